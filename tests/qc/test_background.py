"""background_under_speech against the truth: on generated clips whose bed is known, it orders separators
as their true error under the speech does, and passes only the good ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from lssd.backends.vad import to_mono16k
from lssd.qc import synthetic
from lssd.qc.background import under_speech
from lssd.qc.thresholds import BY_NAME


@pytest.fixture(scope="module")
def stems():
    return synthetic.known_stems(duration=18.0, seed=1)


def test_it_ranks_separators_as_the_truth_does(stems):
    beds = synthetic.separated_beds(stems)
    orig = to_mono16k(stems.mix, stems.sr)
    truth, metric = {}, {}
    for name, bed in beds.items():
        dub = to_mono16k(bed + stems.dub_speech[None, :], stems.sr)
        metric[name] = under_speech(dub, orig, 16_000, stems.spans)
        truth[name] = synthetic.true_bed_error(bed, stems)
    names = list(beds)[1:]  # the true bed's error is -inf: left out of the rank test
    assert spearmanr([truth[n] for n in names], [metric[n] for n in names]).statistic == pytest.approx(1.0), metric
    status = {n: BY_NAME["background_under_speech"].status(v) for n, v in metric.items()}
    assert status["true bed"] == status["ideal ratio mask"] == "pass", metric
    assert metric["ideal ratio mask"] < metric["lssd dsp"] < metric["ducked 10 dB"], metric  # good above bad
    assert status["ducked 10 dB"] == status["gated"] == "fail", metric


def test_no_bed_to_measure_is_not_a_fault(stems):
    orig = to_mono16k(stems.speech[None, :], stems.sr)  # speech over digital silence
    assert under_speech(orig, orig, 16_000, stems.spans) is None
    assert under_speech(np.zeros(100), np.zeros(100), 16_000, stems.spans) is None
