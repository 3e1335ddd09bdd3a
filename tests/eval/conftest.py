"""Evaluation tests run torch on one intra-op thread: their tensors are tiny, and on a shared CPU a
thread pool spends more time waiting for cores than computing (10x slower here)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
