"""Seconds per second of audio for each model-backed stage, loaded and called as a dubbing run does.

    .venv/bin/python benchmarks/model_stages.py [--seconds 20] [--device cpu|cuda] [--real]

By default every model is a tiny random one in its library's own format (lssd.testing.tiny_models),
installed in a temporary store: the figures then measure what lssd and the libraries do around a model
(resampling, blocks, decoding loops, alignment), not the real models' cost. ``--real`` uses the weights in
``LSSD_MODEL_DIR`` instead (htdemucs, whisper large-v3, SeamlessM4T v2, kNN-VC; missing ones are skipped).
Each stage loads once, runs a short warm-up (numba and CUDA kernels compile there), then is timed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lssd.backends import registry
from lssd.dsp import testsignals
from lssd.config import DubConfig
from lssd.segments import Segment, Transcript
from lssd.errors import LssdError
from lssd.languages import get_language

SR = 48_000
TEXT = ("The harbour wakes up early, long before the first ferry leaves for the islands. "
        "Fishermen count their nets and argue about the weather in loud and cheerful voices.")
SEGMENT_S = 5.0  # seconds per segment for the per-segment stages


def install_tiny(root: Path) -> None:
    """Tiny models under the names a default run asks for, in a store at ``root``, named by the environment."""
    from lssd.testing import tiny_models as tiny

    catalog, store = tiny.copy_catalog(root / "catalog"), root / "store"
    build = root / "build"

    def add(name: str, folder: Path, stage: str, library: str, **entry) -> None:
        tiny.install(catalog, store, name, folder, stage=stage, library=library, **entry)

    add("htdemucs", tiny.build_demucs(build / "htdemucs", "htdemucs"), "separate", "demucs")
    tiny.build_whisper(build / "whisper", "large-v3.pt")
    add("whisper-large-v3", build / "whisper", "transcribe", "openai-whisper")
    add("seamless-m4t-v2-large", tiny.build_seamless(build / "seamless"), "translate", "transformers",
        stages=["translate", "synthesize"])
    add("knn-vc-wavlm-large", tiny.build_wavlm(build / "wavlm", original_format=True), "voice-convert", "knn-vc")
    add("knn-vc", tiny.build_knn_vocoder(build / "vocoder"), "voice-convert", "knn-vc", requires=["knn-vc-wavlm-large"])
    os.environ["LSSD_CATALOG_DIR"] = str(catalog)
    os.environ["LSSD_MODEL_DIR"] = str(store)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def engine(stage: str, name: str, cfg: DubConfig):
    return registry.engine(registry.select(stage, name, cfg).backend, cfg)


def report(stage: str, label: str, load_s: float, run_s: float, audio_s: float) -> None:
    print(f"{stage:<14} {label:<30} load {load_s:6.2f} s   run {run_s:7.2f} s   "
          f"{run_s / audio_s:7.3f} s per audio second")


def bench(cfg: DubConfig, seconds: float) -> None:
    speech = testsignals.espeak(TEXT, sr=SR)
    n = int(seconds * SR)
    starts = np.arange(0.5, seconds - speech.size / SR, speech.size / SR + 1.0)
    vocals = testsignals.place(n, [(float(s), speech) for s in starts], SR)
    mix = (testsignals.music_bed(seconds, SR) + vocals[None]).astype(np.float32)
    spanish = get_language("es")
    step = int(SEGMENT_S * SR)
    pieces = [speech[i : i + step] for i in range(0, speech.size - step + 1, step)]
    pieces = (pieces * int(np.ceil(seconds / SEGMENT_S)))[: max(1, int(seconds / SEGMENT_S))]
    segments = [Segment(i, i * SEGMENT_S, (i + 1) * SEGMENT_S, TEXT.split(".")[i % 2]) for i in range(len(pieces))]
    speech_track = np.concatenate(pieces)[None]

    def stage(name: str, backend: str, label: str, warm: Callable[[object], object], run: Callable[[object], object],
              audio_s: float) -> None:
        try:
            t = time.perf_counter()
            eng = engine(name, backend, cfg)
            load_s = time.perf_counter() - t
        except LssdError as exc:
            print(f"{name:<14} skipped: {exc}")
            return
        warm(eng)
        report(name, label, load_s, timed(lambda: run(eng)), audio_s)

    stage("separate", "demucs", f"demucs {cfg.separator_model}", lambda e: e.separate(mix[:, : 2 * SR], SR),
          lambda e: e.separate(mix, SR), seconds)
    stage("transcribe", "whisper", f"whisper {cfg.asr_model}",
          lambda e: e.transcribe(vocals[None, : 4 * SR], SR, "eng"), lambda e: e.transcribe(vocals[None], SR, "eng"),
          seconds)
    transcript = Transcript("eng", segments)
    stage("translate", "seamless", "seamless t2st (text+speech)",
          lambda e: e.translate(Transcript("eng", segments[:1]), spanish, speech_track, SR),
          lambda e: e.translate(transcript, spanish, speech_track, SR), len(pieces) * SEGMENT_S)
    stage("voice-convert", "knn-vc", "knn-vc", lambda e: e.convert(pieces[0], speech, SR),
          lambda e: [e.convert(p, speech, SR) for p in pieces], len(pieces) * SEGMENT_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of audio per stage")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--real", action="store_true", help="use the real weights in LSSD_MODEL_DIR")
    args = parser.parse_args()
    cfg = DubConfig(langs=[get_language("es")], source_language="eng", device=args.device)
    print(f"{'real' if args.real else 'tiny random'} models, device {args.device}, {args.seconds:g} s of audio")
    if args.real:
        bench(cfg, args.seconds)
        return
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        install_tiny(Path(tmp))
        bench(cfg, args.seconds)


if __name__ == "__main__":
    main()
