"""Generated "scene" sounds and evaluation tasks with a known truth, for tests and the controlled experiment.

Five classes of ambience or music (:data:`SCENES`), each drawn with random parameters from a seed, so
a probe that tells them apart has learnt something about the sound and not one waveform. Tasks are
written in the formats the evaluation reads: hear-eval-kit's prepared scene tasks
(:func:`write_hear_task`) and labelled clips with a CSV (:func:`write_clip_task`).
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from lssd.media import require_tool

SAMPLE_RATE = 48_000
RMS = 0.1


def _norm(x: np.ndarray) -> np.ndarray:
    return (x * RMS / max(float(np.sqrt(np.mean(x ** 2))), 1e-9)).astype(np.float32)


def _band_noise(n: int, lo: float, hi: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spec[(freqs < lo) | (freqs > hi)] = 0
    return np.fft.irfft(spec, n)


def rain(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Broadband hiss above 1-2 kHz with droplet clicks."""
    out = _band_noise(n, rng.uniform(1000, 2000), 12000, rng, sr)
    drops = rng.integers(0, n, size=int(n / sr * rng.uniform(20, 40)))
    click = np.exp(-np.arange(int(0.004 * sr)) / (0.0008 * sr)) * 6 * out.std()
    for d in drops:
        seg = click[: n - d]
        out[d:d + seg.size] += seg * rng.choice([-1, 1])
    return _norm(out)


def engine(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A low harmonic hum (fundamental 40-70 Hz) with a firing rhythm."""
    t = np.arange(n) / sr
    f0 = rng.uniform(40, 70)
    out = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 12))
    return _norm(out * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(4, 9) * t)))


def birds(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Short rising chirps between 2.5 and 6 kHz over faint noise."""
    out = 0.02 * rng.standard_normal(n)
    for _ in range(int(n / sr * rng.uniform(3, 7))):
        length = int(rng.uniform(0.05, 0.15) * sr)
        start = int(rng.integers(0, max(1, n - length)))
        tt = np.arange(min(length, n - start)) / sr
        f_lo = rng.uniform(2500, 4000)
        sweep = f_lo + rng.uniform(1000, 2000) * tt / (length / sr)
        out[start:start + tt.size] += np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.hanning(tt.size)
    return _norm(out)


def music(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Plucked notes of a pentatonic scale, three to six a second, with harmonics."""
    out = np.zeros(n)
    base = rng.uniform(200, 300)
    step = int(sr / rng.uniform(3, 6))
    for start in range(0, n, step):
        f = base * 2 ** (rng.choice([0, 2, 4, 7, 9, 12]) / 12)
        tt = np.arange(min(int(0.6 * sr), n - start)) / sr
        note = sum(np.sin(2 * np.pi * f * k * tt) / k ** 2 for k in (1, 2, 3)) * np.exp(-tt / 0.15)
        out[start:start + tt.size] += note
    return _norm(out)


def wind(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Low band noise (150-900 Hz) swelling slowly."""
    t = np.arange(n) / sr
    out = _band_noise(n, rng.uniform(100, 200), rng.uniform(600, 900), rng, sr)
    return _norm(out * (1.2 + np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6.3))))


SCENES: dict[str, Callable[..., np.ndarray]] = {"rain": rain, "engine": engine, "birds": birds, "music": music,
                                                  "wind": wind}


def scene_sound(scene: str, duration: float, seed: int | Sequence[int], sr: int = SAMPLE_RATE) -> np.ndarray:
    """``duration`` seconds of one scene class, mono float32 at RMS 0.1; the seed picks its variant."""
    return SCENES[scene](int(round(duration * sr)), np.random.default_rng(seed), sr)


# -------------------------------------------------------------------------------------- task writers

@dataclass(frozen=True)
class TaskItem:
    """One example: its file name, split (or fold), labels and mono audio."""

    filename: str
    split: str
    labels: tuple[str, ...]
    audio: np.ndarray


def write_hear_task(root: Path, name: str, items: Sequence[TaskItem], *, multilabel: bool = False,
                    folds: bool = False, sr: int = SAMPLE_RATE) -> Path:
    """A task in hear-eval-kit's prepared layout: ``task_metadata.json``, ``labelvocabulary.csv``,
    ``{split}.json`` and ``{sr}/{split}/{filename}`` (16-bit WAV)."""
    task = Path(root) / name
    splits = sorted({it.split for it in items})
    labels = sorted({lab for it in items for lab in it.labels})
    metadata = {
        "task_name": name, "version": "lssd-test", "embedding_type": "scene",
        "prediction_type": "multilabel" if multilabel else "multiclass",
        "split_mode": "new_split_kfold" if folds else "trainvaltest",
        "splits": splits if folds else ["train", "valid", "test"],
        "sample_duration": round(max(len(it.audio) for it in items) / sr, 3),
        "evaluation": ["mAP"] if multilabel else ["top1_acc"],
    }
    task.mkdir(parents=True, exist_ok=True)
    (task / "task_metadata.json").write_text(json.dumps(metadata, indent=2))
    with open(task / "labelvocabulary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["idx", "label"])
        writer.writerows(enumerate(labels))
    for split in splits:
        (task / f"{split}.json").write_text(json.dumps(
            {it.filename: list(it.labels) for it in items if it.split == split}, indent=1))
        folder = task / str(sr) / split
        folder.mkdir(parents=True, exist_ok=True)
        for it in items:
            if it.split == split:
                sf.write(folder / it.filename, np.clip(it.audio, -1, 1), sr, subtype="PCM_16")
    return task


# lavfi pictures, one per visual class
PICTURES = ("testsrc2", "smptebars", "rgbtestsrc", "mandelbrot", "cellauto")


def write_clip(path: Path, picture: str, audio: np.ndarray, size: str = "64x48", sr: int = SAMPLE_RATE) -> Path:
    """A small H.264 + AAC clip: a lavfi picture and the given mono sound, as long as the sound."""
    ffmpeg = require_tool("ffmpeg")
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".tmp.wav")
    sf.write(wav, np.clip(audio, -1, 1), sr, subtype="PCM_16")
    duration = len(audio) / sr
    source = f"{picture}=s={size}:r=25" + ("" if picture in ("mandelbrot", "cellauto") else f":d={duration:.3f}")
    try:
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                        "-i", str(wav), "-map", "0:v", "-map", "1:a", "-t", f"{duration:.3f}",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                        str(path)], check=True, capture_output=True)
    finally:
        wav.unlink(missing_ok=True)
    return path


def write_clip_task(root: Path, rows: Sequence[tuple[str, Sequence[str], str]], csv_name: str = "labels.csv",
                    split_column: str = "split") -> Path:
    """The CSV of a labelled-clip task: ``path,label,split`` (or ``fold``), labels joined by ``;``."""
    root = Path(root)
    with open(root / csv_name, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", split_column])
        for path, labels, split in rows:
            writer.writerow([path, ";".join(labels), split])
    return root / csv_name
