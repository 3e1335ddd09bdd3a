"""The "k nearest neighbours" of kNN-VC: regress each source frame onto the target speaker's frames."""

from __future__ import annotations

import torch
from torch.nn import functional as F

TOPK = 4  # the paper's k: averaging a few neighbours smooths the joins between borrowed frames


def knn_match(query: torch.Tensor, matching: torch.Tensor, k: int = TOPK) -> torch.Tensor:
    """(n, d) source features → (n, d): each row replaced by the mean of its ``k`` nearest rows of
    ``matching`` (m, d) by cosine distance. With fewer than ``k`` rows to choose from, all are used."""
    similarity = F.normalize(query, dim=-1) @ F.normalize(matching, dim=-1).T  # cosine distance = 1 - this
    nearest = similarity.topk(min(k, matching.shape[0]), dim=-1).indices  # (n, k)
    return matching[nearest].mean(dim=1)
