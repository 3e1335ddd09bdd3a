"""Known-truth dubs: the good one passes every metric, each faulty one is failed by the metric for its fault."""

from __future__ import annotations

import pytest

from lssd.qc import synthetic
from lssd.qc.report import check
from lssd.qc.thresholds import CHEAP, MODEL

CHEAP_CASES = ["good", "late", "loud", "leak", "background"]
MODEL_CASES = ["good", "english", "voice"]


@pytest.fixture(scope="module")
def cheap_report(faulty_dubs):
    return check(faulty_dubs.path, costs=(CHEAP,), only={faulty_dubs.track(c) for c in CHEAP_CASES})


def _by_case(report, dub):
    return {dub.cases[t["audio_index"] - 1]: t for t in report["tracks"]}


def test_good_dub_passes_every_cheap_metric(cheap_report, faulty_dubs):
    good = _by_case(cheap_report, faulty_dubs)["good"]
    # sync may be n/a: a bed of steady chords correlates at many lags, so no offset stands out
    assert {k: m["status"] for k, m in good["metrics"].items() if m["status"] not in ("pass", "n/a")} == {}
    assert good["metrics"]["sync"]["value"] in (0.0, None)
    assert good["metrics"]["timing"]["value"] > 0.98
    assert abs(good["metrics"]["loudness"]["value"]) < 1.0
    assert good["metrics"]["stretch"]["value"] == pytest.approx(1.1)  # read from the sidecar


@pytest.mark.parametrize("case", ["late", "loud", "leak", "background"])
def test_fault_is_failed_by_its_metric(cheap_report, faulty_dubs, case):
    metrics = _by_case(cheap_report, faulty_dubs)[case]["metrics"]
    assert metrics[synthetic.CASES[case]]["status"] == "fail", metrics


def test_fault_sizes_are_measured_not_just_flagged(cheap_report, faulty_dubs):
    tracks = _by_case(cheap_report, faulty_dubs)
    assert tracks["loud"]["metrics"]["loudness"]["value"] == pytest.approx(6.0, abs=1.0)  # +6 dB speech over a bed
    assert tracks["leak"]["metrics"]["leakage"]["value"] == pytest.approx(-6.0, abs=1.5)  # mixed in at −6 dB
    assert tracks["late"]["metrics"]["pause_speech"]["value"] >= 0.8  # 1 s late: ≈1 s per line in the pause
    assert tracks["background"]["metrics"]["timing"]["status"] == "pass"  # a new bed is not a timing fault
    assert tracks["late"]["metrics"]["background"]["status"] == "pass"  # misplaced speech is not a new bed


def test_model_metrics_language_and_voice(faulty_dubs):
    report = check(faulty_dubs.path, costs=(MODEL,), only={faulty_dubs.track(c) for c in MODEL_CASES})
    tracks = _by_case(report, faulty_dubs)
    assert tracks["good"]["metrics"]["language"]["status"] == "pass"
    assert tracks["good"]["metrics"]["language"]["detected"] == "spa"
    assert tracks["good"]["metrics"]["voice"]["status"] == "pass"
    english = tracks["english"]["metrics"]["language"]
    assert (english["status"], english["detected"]) == ("fail", "eng")
    assert tracks["english"]["metrics"]["voice"]["status"] == "pass"  # same voice, other words
    assert tracks["voice"]["metrics"]["voice"]["status"] == "fail"
    assert tracks["voice"]["metrics"]["language"]["status"] == "pass"
