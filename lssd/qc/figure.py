"""The paper's Fig. 4 / C.2 layout for one container: a row of video stills across the clip above one mel
spectrogram per audio track on a shared time axis, the original speech spans shaded, the sidecar's
segments marked, each track titled (with its QC verdict when a report is given)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np

from lssd import sidecar
from lssd.media import atomic_output, decode_audio, probe, require_tool

SR = 16_000
N_MELS = 80
HOP = 160
N_STILLS = 6
STATUS_COLOUR = {"pass": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828"}


def window_of(duration: float, window: float | None) -> tuple[float, float]:
    """The middle ``window`` seconds (the whole clip when shorter or not given)."""
    if not window or window >= duration:
        return 0.0, duration
    start = (duration - window) / 2
    return start, start + window


def _still(path: Path, t: float, height: int = 120) -> np.ndarray | None:
    import matplotlib.image as mpimg

    cmd = [require_tool("ffmpeg"), "-v", "error", "-nostdin", "-ss", f"{t:.3f}", "-i", str(path), "-frames:v", "1",
           "-vf", f"scale=-2:{height}", "-f", "image2pipe", "-vcodec", "png", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)  # no still is no reason to fail the figure
    return mpimg.imread(io.BytesIO(proc.stdout), format="png") if proc.returncode == 0 and proc.stdout else None


def _mel_db(audio: np.ndarray) -> np.ndarray:
    import librosa

    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    mel = librosa.feature.melspectrogram(y=mono, sr=SR, n_fft=1024, hop_length=HOP, n_mels=N_MELS, fmax=SR / 2)
    return librosa.power_to_db(mel, ref=1.0, top_db=None)


SPEAKER_COLOURS = ("#4fc3f7", "#ffb74d", "#aed581", "#f06292", "#ba68c8", "#fff176")  # S1, S2, … (then cycling)


def _segments(sc: dict | None, language: str, original: bool) -> list[tuple[float, float, str | None]]:
    if sc is None:
        return []
    out = []
    for seg in sc.get("segments", []):
        where = seg if original else seg.get("targets", {}).get(language, {})
        if "start" in where and "end" in where:
            out.append((float(where["start"]), float(where["end"]), seg.get("speaker")))
    return out


def _colour(speaker: str | None) -> str:
    index = int(speaker.lstrip("S")) - 1 if speaker and speaker.lstrip("S").isdigit() else 0
    return SPEAKER_COLOURS[index % len(SPEAKER_COLOURS)]


def draw(output: Path, png: Path, report: dict | None = None, window: float | None = None) -> Path:
    """Write the figure to ``png`` (atomically) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output, png = Path(output), Path(png)
    info = probe(output)
    sc = sidecar.read(output)
    streams = info.audio
    entries = {int(t.get("audio_index", i)): t for i, t in enumerate(sc.get("tracks", []))} if sc else {}
    verdicts = {t["audio_index"]: t for t in (report or {}).get("tracks", [])}
    orig_index = (report or {}).get("original", {}).get("audio_index", next(
        (i for i, e in entries.items() if e.get("kind") == sidecar.KIND_ORIGINAL), 0))
    spans = [tuple(s) for s in (report or {}).get("original", {}).get("spans", [])]
    t0, t1 = window_of(info.duration, window)
    rows = len(streams) + (1 if info.has_video else 0)
    fig, axes = plt.subplots(rows, 1, figsize=(12, 1.9 * rows + 0.4), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": ([1.2] if info.has_video else []) + [1] * len(streams)})
    axes = axes[:, 0]
    if info.has_video:
        ax = axes[0]
        step = (t1 - t0) / N_STILLS
        for k in range(N_STILLS):
            img = _still(output, t0 + (k + 0.5) * step)
            if img is not None:
                ax.imshow(img, extent=(t0 + k * step, t0 + (k + 1) * step, 0, 1), aspect="auto")
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_title("video", loc="left", fontsize=10)
    for row, stream in enumerate(streams):
        ax = axes[row + (1 if info.has_video else 0)]
        audio = decode_audio(output, SR, stream=stream.index, channels=1, timeline=True)[0]
        piece = audio[int(t0 * SR):int(t1 * SR)]
        mel = _mel_db(piece)
        ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=mel.max() - 80, vmax=mel.max(),
                  extent=(t0, t0 + mel.shape[1] * HOP / SR, 0, N_MELS))
        for a, b in spans:
            ax.axvspan(a, b, color="white", alpha=0.12, lw=0)
            for edge in (a, b):
                ax.axvline(edge, color="white", lw=0.6, alpha=0.6)
        entry = entries.get(row, {})
        language = entry.get("language") or stream.language or "und"
        for a, b, who in _segments(sc, language, row == orig_index):
            ax.plot([a, b], [N_MELS - 2, N_MELS - 2], color=_colour(who), lw=4, solid_capstyle="butt")
            if who and t0 <= a < t1:
                ax.text(a, N_MELS - 5, who, color=_colour(who), fontsize=7, va="top")
        title = entry.get("title") or stream.title or f"track {row}"
        verdict = verdicts.get(row)
        label = f"{title} [{language}]" + (" — original" if row == orig_index else "")
        ax.set_title(label, loc="left", fontsize=10)
        if verdict:
            bad = [k for k, m in verdict["metrics"].items() if m["status"] in ("warn", "fail")]
            ax.set_title(f"QC {verdict['status']}" + (f": {', '.join(bad)}" if bad else ""), loc="right",
                         fontsize=10, color=STATUS_COLOUR[verdict["status"]])
        ax.set_yticks([0, N_MELS])
        ax.set_yticklabels(["0", "8k"])
        ax.set_ylabel("mel (Hz)", fontsize=8)
        ax.set_xlim(t0, t1)
    axes[-1].set_xlabel("time (s) — shaded: original speech (VAD); bars: the sidecar's segments, "
                        "one colour per speaker (S1, S2, …)")
    fig.suptitle(f"{output.name}  ({t0:.1f}–{t1:.1f} s)", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return png
