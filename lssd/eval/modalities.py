"""What the LVU and labelled-clip runners share: features per modality, one probe per modality, cells.

A run is probed on its video, audio and audio+video (concatenated ``[video, audio]``) per-file
embeddings; audio-only runs have no video rows. The probe is the linear one (App. B.3.1) or the MLP
grid (HEAR's recipe, Table B.1), from :mod:`lssd.eval.probes`.
"""

from __future__ import annotations

import logging
import numpy as np

from lssd.errors import BadInputError
from lssd.eval.embed import EmbeddingStore
from lssd.eval.probes import LinearConfig, MLPGrid, ProbeResult, Split, linear_probe, mlp_probe, percent

log = logging.getLogger(__name__)

MODALITIES = ("video", "audio", "audio+video")
PROBES = ("linear", "mlp")


def check_probe(probe: str) -> None:
    if probe not in PROBES:
        raise BadInputError(f"probe must be linear or mlp, got {probe!r}")


def features(store: EmbeddingStore, ids: list[str], modality: str) -> np.ndarray:
    """Per-file embeddings of one modality; audio+video is their concatenation [video, audio]."""
    if modality == "audio+video":
        return np.concatenate([store.matrix(ids, "video"), store.matrix(ids, "audio")], axis=1)
    return store.matrix(ids, modality)


def probe_modalities(store: EmbeddingStore, splits: list[tuple[list[str], np.ndarray]], kind: str, probe: str,
                     linear: LinearConfig, grid: MLPGrid, device: str, label: str) -> dict[str, ProbeResult]:
    """One probe per modality the store has, on (ids, targets) of train, val and test."""
    has_video = (store.meta() or {}).get("video_dim") is not None
    out: dict[str, ProbeResult] = {}
    for modality in MODALITIES:
        if "video" in modality and not has_video:
            continue
        data = [Split(features(store, ids, modality), y) for ids, y in splits]
        try:
            out[modality] = (linear_probe(*data, kind, linear, device) if probe == "linear"
                             else mlp_probe(*data, kind, grid, device))
        except BadInputError as err:
            log.warning("%s (%s): not probed, %s", label, modality, err)
    return out


def cell(values: list[float], metric: str) -> str:
    """A table cell: the score (mean ± std when there are several folds); mAP shown in %."""
    if not values:
        return "-"
    digits = 4 if metric == "mse" else 2
    text = f"{percent(float(np.mean(values)), metric):.{digits}f}"
    if len(values) > 1:
        text += f" ± {percent(float(np.std(values, ddof=1)), metric):.{digits}f}"
    return text
