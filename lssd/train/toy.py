"""A tiny multi-track "movie" dataset generated on the fly, for tests, examples and the tiny recipe.

Each title is one container in the hand-off format: hard cuts between visually distinct generated
scenes (ffmpeg lavfi sources, a per-title hue), and one audio stream per language, tagged with its
ISO 639-2/T code. Every language track carries the same background (a per-shot tone plus a little
noise, like a real M&E stem), espeak-ng speech in that language at the same times, and a faint
per-language *pilot tone* (:data:`PILOT_HZ`) so tests can tell from the audio alone which stream was
decoded. The ground truth (cut times, languages) is written to ``toy_manifest.json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from lssd import sidecar
from lssd.dsp.testsignals import espeak
from lssd.errors import BadInputError
from lssd.languages import get_language

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_RATE = 48_000
FPS = 25
PILOT_HZ: dict[str, float] = {"eng": 500.0, "spa": 900.0, "fra": 1700.0, "jpn": 3100.0}
PILOT_AMPLITUDE = 0.08
MANIFEST = "toy_manifest.json"

# Sentences per language; Japanese in kana because espeak-ng reads kanji as "Chinese letter".
SENTENCES: dict[str, tuple[str, ...]] = {
    "eng": ("Where did you put the map?", "We leave at dawn.", "Nobody saw the car.",
            "Open the door, please.", "It is colder than yesterday."),
    "spa": ("¿Dónde pusiste el mapa?", "Salimos al amanecer.", "Nadie vio el coche.",
            "Abre la puerta, por favor.", "Hace más frío que ayer."),
    "fra": ("Où as-tu mis la carte ?", "Nous partons à l'aube.", "Personne n'a vu la voiture.",
            "Ouvre la porte, s'il te plaît.", "Il fait plus froid qu'hier."),
    "jpn": ("ちずは どこに おいたの。", "よあけに でます。", "だれも くるまを みていない。",
            "ドアを あけて ください。", "きのうより さむい です。"),
}

# Visually distinct scene generators (lavfi); consecutive entries differ strongly so cuts are hard.
_SCENES: tuple[str, ...] = (
    "testsrc2=s={w}x{h}:r={fps}:d={d}",
    "mandelbrot=s={w}x{h}:r={fps},trim=duration={d}",
    "color=c=0x203060:s={w}x{h}:r={fps}:d={d},drawbox=x='20+t*30':y=40:w=50:h=50:color=yellow:t=fill",
    "smptebars=s={w}x{h}:r={fps}:d={d}",
    "gradients=s={w}x{h}:r={fps}:d={d}:c0=0xff2020:c1=0x20ff40:seed=3",
    "colorspectrum=s={w}x{h}:r={fps}:d={d},drawbox=x='280-t*40':y=70:w=40:h=40:color=black:t=fill",
    "color=c=0xe0e0d0:s={w}x{h}:r={fps}:d={d},drawbox=x=100:y='10+t*12':w=40:h=90:color=0x802000:t=fill",
    "sierpinski=s={w}x{h}:r={fps}:seed=5,trim=duration={d}",
)


@dataclass(frozen=True)
class ToyTitle:
    """One generated title: how it is laid out and what the index should find in it."""

    name: str  # file name, e.g. "toy_000.dub.mkv"
    shots: tuple[float, ...]  # shot durations (s), multiples of 1/FPS
    languages: tuple[str, ...]  # audio stream order, ISO 639-2/T
    original: str
    default_stream: int  # audio stream carrying the `default` disposition
    sidecar: bool  # written by the lssd dubbing pipeline (True) or a "real" multi-track file

    @property
    def cuts(self) -> list[float]:
        """Times of the hard cuts (shot boundaries, without 0 and the end)."""
        return [float(c) for c in np.cumsum(self.shots)[:-1]]

    @property
    def duration(self) -> float:
        return float(sum(self.shots))


# Covers: a 4-language pipeline output, a bilingual one with a >12 s shot, a "real" file without a
# sidecar whose original (eng) is not the first stream but carries `default`, and a monolingual mp4.
# Every title has one shot under 3 s so the 3-12 s filter is exercised.
_TEMPLATES: tuple[ToyTitle, ...] = (
    ToyTitle("toy_000.dub.mkv", (5.0, 4.0, 2.0, 7.0, 6.0), ("eng", "spa", "fra", "jpn"), "eng", 0, True),
    ToyTitle("toy_001.dub.mkv", (6.0, 13.6, 4.4, 3.6, 1.6), ("eng", "spa"), "eng", 0, True),
    ToyTitle("toy_002.mkv", (4.0, 8.0, 5.0, 2.4, 4.6), ("fra", "eng"), "eng", 1, False),
    ToyTitle("toy_003.mp4", (7.0, 5.6, 1.2, 9.0), ("eng",), "eng", 0, False),
)


def toy_titles(n_titles: int = 4) -> list[ToyTitle]:
    """The first ``n_titles`` titles; beyond the four templates, shots are rotated to vary content."""
    titles = []
    for i in range(n_titles):
        base = _TEMPLATES[i % len(_TEMPLATES)]
        rot = i // len(_TEMPLATES)
        shots = base.shots[rot % len(base.shots):] + base.shots[: rot % len(base.shots)]
        ext = base.name.partition(".")[2]
        name = f"toy_{i:03d}.{ext}"
        titles.append(ToyTitle(name, shots, base.languages, base.original, base.default_stream,
                               base.sidecar))
    return titles


def _speech(text: str, lang: str) -> np.ndarray:
    """espeak-ng speech at SAMPLE_RATE, mono float32."""
    return espeak(text, get_language(lang).espeak_voice)


def shot_tone_hz(title_index: int, shot: int) -> float:
    """The background tone of a shot: it changes at every cut, so audio and video cut together."""
    return 120.0 + 25.0 * ((title_index * 7 + shot) % 12)


def _background(title: ToyTitle, index: int, rng: np.random.Generator) -> np.ndarray:
    """Shared by every language track: a per-shot tone (audio-visual correspondence) plus noise."""
    n = int(round(title.duration * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    out = 0.01 * rng.standard_normal(n).astype(np.float32)
    start = 0.0
    for k, d in enumerate(title.shots):
        a, b = int(round(start * SAMPLE_RATE)), int(round((start + d) * SAMPLE_RATE))
        out[a:b] += 0.1 * np.sin(2 * np.pi * shot_tone_hz(index, k) * t[a:b])
        start += d
    return out


def _language_track(title: ToyTitle, lang: str, bg: np.ndarray) -> np.ndarray:
    t = np.arange(bg.size) / SAMPLE_RATE
    out = bg + PILOT_AMPLITUDE * np.sin(2 * np.pi * PILOT_HZ[lang] * t).astype(np.float32)
    start = 0.0
    for k, d in enumerate(title.shots):
        speech = _speech(SENTENCES[lang][k % len(SENTENCES[lang])], lang)
        a = int(round((start + 0.3) * SAMPLE_RATE))
        seg = speech[: max(0, bg.size - a)]
        out[a:a + seg.size] += 0.6 * seg
        start += d
    return np.clip(out, -1.0, 1.0)


def _video_graph(title: ToyTitle, index: int, size: tuple[int, int]) -> str:
    w, h = size
    parts, labels = [], []
    for k, d in enumerate(title.shots):
        scene = _SCENES[(index + k) % len(_SCENES)].format(w=w, h=h, fps=FPS, d=f"{d:.2f}")
        parts.append(f"{scene},setsar=1,format=yuv420p[s{k}]")
        labels.append(f"[s{k}]")
    hue = (index * 47) % 360
    parts.append(f"{''.join(labels)}concat=n={len(labels)}:v=1:a=0,hue=h={hue},format=yuv420p[v]")
    return ";".join(parts)


def _sidecar(title: ToyTitle) -> dict:
    tracks = []
    for i, lang in enumerate(title.languages):
        original = lang == title.original
        name = get_language(lang).name
        tracks.append(sidecar.track_entry(
            i, lang, sidecar.KIND_ORIGINAL if original else sidecar.KIND_SYNTHETIC_DUB,
            f"{name} (original)" if original else f"{name} (synthetic dub)",
            None if original else sidecar.TEXT_TRANSLATION))
    return {"format": sidecar.FORMAT, "source_language": title.original,
            "duration": title.duration, "tracks": tracks}


def write_title(title: ToyTitle, index: int, out_dir: Path, size: tuple[int, int] = (320, 180),
                seed: int = 0) -> Path:
    """Render one title (video, tagged audio streams, optional sidecar) into ``out_dir``."""
    rng = np.random.default_rng([seed, index])
    target = out_dir / title.name
    with tempfile.TemporaryDirectory(prefix="lssd-toy-") as tmp_str:
        tmp = Path(tmp_str)
        bg = _background(title, index, rng)
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
               "-filter_complex", _video_graph(title, index, size)]
        for i, lang in enumerate(title.languages):
            wav = tmp / f"a{i}.wav"
            sf.write(wav, _language_track(title, lang, bg), SAMPLE_RATE, subtype="PCM_16")
            cmd += ["-i", str(wav)]
        cmd += ["-map", "[v]"]
        for i in range(len(title.languages)):
            cmd += ["-map", f"{i}:a"]
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(2 * FPS),
                "-c:a", "aac", "-b:a", "96k", "-ar", str(SAMPLE_RATE)]
        for i, lang in enumerate(title.languages):
            label = get_language(lang).name
            cmd += [f"-metadata:s:a:{i}", f"language={lang}", f"-metadata:s:a:{i}", f"title={label}",
                    f"-metadata:s:a:{i}", f"handler_name={label}",
                    f"-disposition:a:{i}", "default" if i == title.default_stream else "0"]
        cmd += ["-t", f"{title.duration:.3f}", str(target)]
        subprocess.run(cmd, check=True, capture_output=True)
    if title.sidecar:
        sidecar.write(sidecar.path_for(target), _sidecar(title))
    return target


def make_toy_dataset(out_dir: Path, n_titles: int = 4, size: tuple[int, int] = (320, 180),
                     seed: int = 0) -> list[ToyTitle]:
    """Write ``n_titles`` titles plus ``toy_manifest.json`` (the ground truth) into ``out_dir``."""
    if n_titles < 1:
        raise BadInputError(f"n_titles must be at least 1, got {n_titles}")
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            raise BadInputError(f"{tool} is not installed; the toy dataset needs it")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    titles = toy_titles(n_titles)
    for i, title in enumerate(titles):
        write_title(title, i, out_dir, size, seed)
    manifest = {"fps": FPS, "sample_rate": SAMPLE_RATE, "pilot_hz": PILOT_HZ,
                "titles": [{**asdict(t), "cuts": t.cuts, "duration": t.duration} for t in titles]}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return titles


# title layouts of a synthetic index: (language, track kind) per audio track, then control tracks
_LAYOUTS: tuple[tuple[tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    ((("eng", sidecar.LABEL_ORIGINAL),), ()),
    ((("eng", sidecar.LABEL_ORIGINAL), ("spa", sidecar.LABEL_SYNTHETIC)), ()),
    ((("eng", sidecar.LABEL_ORIGINAL), ("spa", sidecar.LABEL_DUB), ("fra", sidecar.LABEL_SYNTHETIC)), ()),
    ((("eng", sidecar.LABEL_ORIGINAL), ("spa", sidecar.LABEL_SYNTHETIC), ("fra", sidecar.LABEL_SYNTHETIC),
      ("jpn", sidecar.LABEL_PSEUDO)), ()),
    ((("fra", sidecar.LABEL_ORIGINAL), ("eng", sidecar.LABEL_DUB)), ()),
    ((("jpn", sidecar.LABEL_ORIGINAL), ("eng", sidecar.LABEL_SYNTHETIC), ("spa", sidecar.LABEL_SYNTHETIC)), ()),
    ((("eng", sidecar.LABEL_ORIGINAL), ("spa", sidecar.LABEL_DUB), ("fra", sidecar.LABEL_SYNTHETIC),
      ("jpn", sidecar.LABEL_SYNTHETIC)), ("resynth", "novc:spa", "novc:fra")),
    ((("spa", sidecar.LABEL_ORIGINAL), ("eng", sidecar.LABEL_DUB)), ("background",)),
)


def synthetic_index(n_shots: int, n_titles: int | None = None, seed: int = 0) -> pd.DataFrame:
    """A shot index of ``n_shots`` rows (:func:`lssd.train.index.build_index`'s columns) that points at
    no media: for measuring the index, the sampler and a run's start-up at the paper's scale (millions
    of shots), not for decoding. Titles get 30-300 shots (~165 on average: a feature film's 3-12 s
    shots) and one of eight track layouts (originals in four languages, dubs, synthetic and
    pseudo-text tracks, controls)."""
    import pandas as pd

    from lssd.train.index import COLUMNS

    rng = np.random.default_rng(seed)
    n_titles = n_titles or max(1, n_shots // 165)
    sizes = rng.integers(30, 301, n_titles).astype(np.float64)
    counts = np.floor(sizes / sizes.sum() * n_shots).astype(np.int64)
    counts[: n_shots - counts.sum()] += 1
    title = np.repeat(np.arange(n_titles), counts)
    layout = rng.integers(len(_LAYOUTS), size=n_titles)
    columns: dict[str, list] = {c: [] for c in ("audio_languages", "audio_stream_index", "is_synthetic",
                                                "track_kinds", "original_language", "control_tracks",
                                                "control_stream_index")}
    for tracks, controls in _LAYOUTS:  # one list object per layout, shared by its titles' shots
        columns["audio_languages"].append([lang for lang, _ in tracks])
        columns["audio_stream_index"].append(list(range(len(tracks))))
        columns["is_synthetic"].append([kind in (sidecar.LABEL_SYNTHETIC, sidecar.LABEL_PSEUDO)
                                        for _, kind in tracks])
        columns["track_kinds"].append([kind for _, kind in tracks])
        columns["original_language"].append(tracks[0][0])
        columns["control_tracks"].append(list(controls))
        columns["control_stream_index"].append(list(range(len(tracks), len(tracks) + len(controls))))
    per_row = layout[title]
    shot_idx = np.arange(n_shots) - np.repeat(np.cumsum(counts) - counts, counts)
    start = shot_idx * 8.0
    names = np.array([f"movies/title_{t:06d}.mkv" for t in range(n_titles)], dtype=object)
    paths = np.array([f"/data/{name}" for name in names], dtype=object)
    df = pd.DataFrame({"shot_id": np.arange(n_shots), "title_idx": title, "title_id": names[title],
                       "shot_idx": shot_idx, "media_path": paths[title], "video_stream": 0,
                       "shot_start": start, "shot_end": start + 3.0 + 9.0 * rng.random(n_shots),
                       "fps": 25.0, "duration": 7200.0}, copy=False)
    for name, values in columns.items():
        shared = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            shared[i] = value
        df[name] = pd.Series(shared[per_row], dtype=object)
    return df[list(COLUMNS)]
