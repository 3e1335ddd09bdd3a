"""Issue 19, also seen: a rerun with fewer --langs leaves no SRT of the dropped language, and numpy's
"Mean of empty slice" never leaks from the alignment trim or the voice analysis."""

from __future__ import annotations

import warnings

import numpy as np

from lssd.dsp.world_vc import _Analysis, _long_term_db
from lssd.dub.align import quietest_cut

from .helpers import run_cli, sidecar

FAST = ["--separator", "dsp", "--asr", "vad", "--source-lang", "en", "--translator", "pseudo", "--vc", "none"]


def test_a_rerun_with_fewer_languages_removes_the_dropped_srt(short_clip, tmp_path, capsys):
    out = tmp_path / "out" / "boats.dub.mkv"
    cmd = ["dub", short_clip.path, "-o", out, "--background", short_clip.background, *FAST]
    assert run_cli([*cmd, "--langs", "es,fr"], capsys)[0] == 0
    srts = sorted(p.name for p in out.parent.glob("*.srt"))
    assert "boats.dub.fra.srt" in srts and "boats.dub.spa.srt" in srts, srts
    assert run_cli([*cmd, "--langs", "es"], capsys)[0] == 0
    left = sorted(p.name for p in out.parent.glob("*.srt"))
    assert "boats.dub.fra.srt" not in left and "boats.dub.spa.srt" in left, left
    assert set(sidecar(out)["srt"].values()) == set(left)


def test_no_mean_of_empty_slice_from_trim_or_voice_analysis():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quietest_cut(np.ones(100, dtype=np.float32), 1000, max_len=5000) <= 5000  # audio shorter than fits
        f0 = np.zeros(20)
        f0[1] = 120.0  # the one voiced frame falls between the analysed (every 4th) frames
        db = _long_term_db(_Analysis(f0, np.ones((5, 9)), stride=4))
        assert db.shape == (9,) and np.all(np.isfinite(db))
