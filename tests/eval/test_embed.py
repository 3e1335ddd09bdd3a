"""Embeddings: windows, shapes, determinism, resuming, the audio track chosen, broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lssd.errors import BadInputError
from lssd.eval.backbones import load_backbones, run_name
from lssd.eval.embed import EmbeddingStore, embed_media
from lssd.eval.windows import probe_media, window_starts

from .conftest import make_clip


def test_window_starts_are_non_overlapping_with_an_end_aligned_remainder() -> None:
    assert window_starts(0.4, 1.0).tolist() == [0.0]
    assert window_starts(3.0, 3.0).tolist() == [0.0]
    assert window_starts(2.2, 1.0).tolist() == [0.0, 1.0]  # 0.2 s left: not worth a window
    assert window_starts(2.6, 1.0) == pytest.approx([0.0, 1.0, 1.6])
    assert window_starts(9.0, 3.0).tolist() == [0.0, 3.0, 6.0]
    with pytest.raises(BadInputError):
        window_starts(5.0, 0.0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    return {
        "a": make_clip(root / "a.mp4", 2.2, "testsrc2", {"eng": 440.0}),
        "b": make_clip(root / "b.dub.mkv", 2.6, "smptebars", {"fra": 300.0, "eng": 900.0}, original=1,
                       with_sidecar=True),
    }


def test_embeddings_have_one_row_per_window_and_repeat_exactly(tiny_runs, clips, tmp_path: Path) -> None:
    backbones = load_backbones(tiny_runs[0], "cpu")
    assert backbones.window == 1.0 and backbones.video is not None
    report = embed_media(backbones, clips, tmp_path / "one", progress=False)
    assert sorted(report.embedded) == ["a", "b"] and not report.failed
    store = EmbeddingStore(tmp_path / "one")
    a, b = store.read("a"), store.read("b")
    assert a["audio_windows"].shape == (2, backbones.audio_dim) and a["video_windows"].shape == (2, backbones.video_dim)
    assert b["starts"] == pytest.approx([0.0, 1.0, 1.6], abs=0.05)  # the container runs a little longer
    assert a["audio_windows"].dtype == np.float32
    np.testing.assert_allclose(a["video"], a["video_windows"].mean(axis=0), rtol=1e-6)
    assert not np.allclose(a["video_windows"][0], a["video_windows"][1])  # testsrc2 moves
    assert store.matrix(["b", "a"], "audio").shape == (2, backbones.audio_dim)

    embed_media(backbones, clips, tmp_path / "two", progress=False)
    again = EmbeddingStore(tmp_path / "two").read("a")
    assert all(np.array_equal(a[k], again[k]) for k in a)


def test_a_second_run_resumes_and_a_changed_model_is_refused(tiny_runs, clips, tmp_path: Path) -> None:
    backbones = load_backbones(tiny_runs[0], "cpu")
    embed_media(backbones, {"a": clips["a"]}, tmp_path, progress=False)
    report = embed_media(backbones, clips, tmp_path, progress=False)
    assert report.reused == ["a"] and report.embedded == ["b"]
    with pytest.raises(BadInputError, match="made differently"):
        embed_media(load_backbones(tiny_runs[1], "cpu"), clips, tmp_path, progress=False)


def test_audio_is_the_original_unless_a_language_is_named(tiny_runs, clips, tmp_path: Path) -> None:
    assert probe_media(clips["b"]).audio_index == 1  # the sidecar names eng, the second stream
    assert probe_media(clips["b"], "fr").audio_index == 0
    assert probe_media(clips["a"]).language == "eng"
    with pytest.raises(BadInputError, match="no jpn audio stream"):
        probe_media(clips["b"], "ja")
    backbones = load_backbones(tiny_runs[0], "cpu")
    embed_media(backbones, {"b": clips["b"]}, tmp_path / "orig", progress=False)
    embed_media(backbones, {"b": clips["b"]}, tmp_path / "fra", language="fra", progress=False)
    orig, fra = EmbeddingStore(tmp_path / "orig").read("b"), EmbeddingStore(tmp_path / "fra").read("b")
    assert np.array_equal(orig["video"], fra["video"]) and not np.allclose(orig["audio"], fra["audio"])


def test_a_broken_file_is_reported_and_the_others_embedded(tiny_runs, clips, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 2048)
    report = embed_media(load_backbones(tiny_runs[0], "cpu"), {"x": broken, "a": clips["a"]},
                         tmp_path / "store", progress=False)
    assert report.embedded == ["a"] and list(report.failed) == ["x"]
    assert "broken.mp4" in report.failed["x"]
    with pytest.raises(BadInputError, match="cannot name"):
        embed_media(load_backbones(tiny_runs[0], "cpu"), {"../x": clips["a"]}, tmp_path / "s2", progress=False)


def test_run_names_and_missing_checkpoints(tiny_runs, tmp_path: Path) -> None:
    assert run_name(tiny_runs[0]) == "r1"
    assert run_name(tiny_runs[0] / "checkpoints" / "step_00000001.pt") == "r1@1"
    with pytest.raises(BadInputError, match="no checkpoint"):
        load_backbones(tmp_path / "nowhere")
