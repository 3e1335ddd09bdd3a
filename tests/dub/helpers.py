"""Helpers for the dubbing tests: run the CLI in-process and read containers back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from lssd.cli import main
from lssd.media import SAMPLE_RATE, decode_audio, probe


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def audio_streams(path: Path) -> list:
    return probe(path).audio


def stream_durations(path: Path) -> dict[int, float]:
    """Per-stream durations as the demuxer sees them (packet timestamps, not header claims)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts_time,duration_time", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    ends: dict[int, float] = {}
    for p in json.loads(out.stdout)["packets"]:
        if p.get("pts_time") is None:
            continue
        end = float(p["pts_time"]) + float(p.get("duration_time") or 0.0)
        ends[p["stream_index"]] = max(ends.get(p["stream_index"], 0.0), end)
    return ends


def track(path: Path, stream_index: int, n: int | None = None) -> np.ndarray:
    audio = decode_audio(path, SAMPLE_RATE, stream=stream_index, timeline=True)
    return audio[:, :n] if n else audio


def span_mask(n: int, spans: list[tuple[float, float]], pad: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for a, b in spans:
        mask[max(0, int((a - pad) * sr)) : min(n, int((b + pad) * sr))] = True
    return mask


def sidecar(output: Path) -> dict:
    return json.loads(output.with_name(f"{output.stem}.lssd.json").read_text())
