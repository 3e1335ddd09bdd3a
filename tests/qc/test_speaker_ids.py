"""Per-speaker QC orders speakers by lssd's numbering (S10 after S9) and takes any other id a sidecar
may carry (``alice``) without a ValueError."""

from __future__ import annotations

import numpy as np

from lssd.qc import speakers
from lssd.sidecar import speaker_order


def test_speaker_ids_sort_by_number_then_name():
    assert sorted(["S10", "alice", "S2", "S1", "SPEAKER_00"], key=speaker_order) == \
        ["S1", "S2", "S10", "SPEAKER_00", "alice"]


def test_qc_per_speaker_rows_take_ids_lssd_did_not_number():
    t = np.arange(6 * speakers.SR) / speakers.SR
    wave = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    segs = [{"id": i, "start": a, "end": a + 1.5, "speaker": who, "targets": {"spa": {"start": a, "end": a + 1.5}}}
            for i, (a, who) in enumerate([(0.0, "alice"), (2.0, "S10"), (4.0, "S2")])]
    out = speakers.measure(wave, wave, {"segments": segs}, "spa", model=False)
    assert [r["id"] for r in out["speakers"]] == ["S2", "S10", "alice"]
    assert all(r["f0"] == 0.0 for r in out["speakers"])  # the same voice: no F0 shift
