"""Known-truth dubs: the good one passes every metric, each faulty one is failed by the metric for its fault."""

from __future__ import annotations

import pytest

from lssd.qc import synthetic
from lssd.qc.report import check
from lssd.qc.thresholds import CHEAP, MODEL

CHEAP_CASES = ["good", "late", "loud", "leak", "background", "offset", "short", "ducked"]
MODEL_CASES = ["good", "english", "voice", "noisy", "other_text"]


@pytest.fixture(scope="module")
def cheap_report(faulty_dubs):
    return check(faulty_dubs.path, costs=(CHEAP,), only={faulty_dubs.track(c) for c in CHEAP_CASES})


def _by_case(report, dub):
    return {dub.cases[t["audio_index"] - 1]: t for t in report["tracks"]}


def test_good_dub_passes_every_cheap_metric(cheap_report, faulty_dubs):
    good = _by_case(cheap_report, faulty_dubs)["good"]
    assert {k: m["status"] for k, m in good["metrics"].items() if m["status"] not in ("pass", "n/a")} == {}
    # measured on the background outside speech, a bed of steady chords (GCC-PHAT: it used to be n/a)
    assert good["metrics"]["sync"]["value"] == 0.0
    assert good["metrics"]["length"]["value"] == 1.0
    assert good["metrics"]["background_under_speech"]["value"] <= -15.0  # the true bed, kept
    assert good["metrics"]["timing"]["value"] > 0.98
    assert abs(good["metrics"]["loudness"]["value"]) < 1.0
    assert good["metrics"]["stretch"]["value"] == pytest.approx(1.1)  # read from the sidecar


@pytest.mark.parametrize("case", ["late", "loud", "leak", "background", "offset", "short", "ducked"])
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


def test_offset_short_and_ducked_are_measured(cheap_report, faulty_dubs):
    tracks = _by_case(cheap_report, faulty_dubs)
    assert tracks["offset"]["metrics"]["sync"]["value"] == pytest.approx(1000 * synthetic.OFFSET_S, abs=0.1)
    assert tracks["offset"]["metrics"]["timing"]["status"] == "pass"  # compensated before the other metrics
    assert tracks["short"]["metrics"]["length"]["value"] == pytest.approx(0.5, abs=0.01)
    assert tracks["short"]["notices"] and "cut short" in tracks["short"]["notices"][0]
    assert "cut short" in " ".join(cheap_report["notices"])
    ducked = tracks["ducked"]["metrics"]
    assert ducked["background"]["status"] == "pass"  # outside speech the bed is untouched: only this sees it
    assert ducked["background_under_speech"]["value"] > -6.0


def test_a_track_cut_in_half_is_flagged_by_lssd_qc(faulty_dubs, capsys):
    """Issue 19 case 19: ``lssd qc`` on a dub track cut in half said nothing and exited 0."""
    from lssd.cli import main

    code = main(["qc", str(faulty_dubs.path), "--cheap", "--track", str(faulty_dubs.track("short"))])
    err = capsys.readouterr().err
    assert "cut short" in err and "4.50 s of the original's 9.00 s" in err
    code = main(["qc", str(faulty_dubs.path), "--cheap", "--track", str(faulty_dubs.track("short")),
                 "--fail-on", "fail"])
    assert code != 0


def test_intelligibility_known_truth(faulty_dubs):
    """A clean espeak dub is understood; the same buried in noise, or fluent speech of another text, is not."""
    report = check(faulty_dubs.path, costs=(MODEL,), only={faulty_dubs.track(c) for c in MODEL_CASES})
    tracks = _by_case(report, faulty_dubs)
    cer = {c: tracks[c]["metrics"]["intelligibility"]["value"] for c in MODEL_CASES}
    assert tracks["good"]["metrics"]["intelligibility"]["status"] == "pass", cer
    for case in ("noisy", "other_text", "english"):
        assert tracks[case]["metrics"]["intelligibility"]["status"] == "fail", cer
    assert tracks["other_text"]["metrics"]["language"]["status"] == "pass"  # Spanish: only CER can tell
    assert "tormenta" in tracks["good"]["metrics"]["intelligibility"]["heard"].lower()  # what it heard is kept


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
