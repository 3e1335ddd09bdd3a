"""Run profiles. ``offline`` takes the best backend available on this machine; ``paper`` asks for the
paper's stack (§6) and reports every deviation it has to make (see :mod:`lssd.dub.paper_profile`)."""

from __future__ import annotations

from lssd.config import DubConfig


def apply_profile(cfg: DubConfig) -> tuple[DubConfig, list[str]]:
    if cfg.profile == "offline":
        return cfg, []
    from lssd.dub.paper_profile import paper_profile

    return paper_profile(cfg)
