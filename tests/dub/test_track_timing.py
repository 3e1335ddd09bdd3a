"""Every audio track of an output decodes to the same start and length (within 1 ms), with plain ffmpeg
and with PyAV: a stream copy of the original would keep its AAC priming and its own length."""

from __future__ import annotations

import subprocess

import av
import numpy as np
import pytest

from .helpers import run_cli

SR = 48_000


def _ffmpeg_tracks(path) -> list[np.ndarray]:
    n = len(av.open(str(path)).streams.audio)
    out = []
    for i in range(n):  # the naive way: no timeline handling at all
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:a:{i}", "-ac", "1", "-ar", str(SR),
                              "-f", "f32le", "-"], capture_output=True, check=True).stdout
        out.append(np.frombuffer(raw, dtype=np.float32))
    return out


def _pyav_spans(path) -> list[tuple[float, float]]:
    spans = []
    with av.open(str(path)) as container:
        for stream in container.streams.audio:
            first, last = None, None
            for frame in container.decode(stream):
                t = float(frame.pts * frame.time_base)
                first = t if first is None else first
                last = t + frame.samples / frame.sample_rate
            spans.append((first, last))
            container.seek(0)
    return spans


@pytest.mark.parametrize("container", ["mkv", "mp4"])
def test_tracks_share_start_and_length(short_clip, tmp_path, capsys, container):
    out = tmp_path / f"boats.dub.{container}"
    code, log = run_cli(["dub", short_clip.path, "--langs", "es,fr", "-o", out, "--background", short_clip.background,
                         "--container", container], capsys)
    assert code == 0, log
    tracks = _ffmpeg_tracks(out)
    assert len(tracks) == 3
    assert max(t.size for t in tracks) - min(t.size for t in tracks) <= SR // 1000
    # same start: the original and the dubs share the background, so they agree sample for sample where
    # nobody speaks (the first 0.5 s of this clip); an offset of even a few samples would show
    head = slice(0, int(0.5 * SR))
    for dub in tracks[1:]:
        ref, got = tracks[0][head], dub[head]
        lags = range(-48, 49)
        best = max(lags, key=lambda k: float(np.dot(ref[max(k, 0): ref.size + min(k, 0)], got[max(-k, 0): got.size + min(-k, 0)])))
        assert abs(best) <= SR // 1000, best
    spans = _pyav_spans(out)
    starts, ends = [s for s, _ in spans], [e for _, e in spans]
    assert max(starts) - min(starts) <= 0.001 and max(ends) - min(ends) <= 0.001, spans
