"""Quality figures of the offline pipeline on a generated clip whose parts are known.

    .venv/bin/python benchmarks/dub_quality.py [--langs es,fr,ja]

For each dubbed track: the share of dubbed-speech energy inside the original speech spans (±0.2 s),
the correlation with the true background outside speech, the loudness difference from the original
speech and the track's true peak (delivery limit −1 dBTP, which match-loudness keeps); for the DSP separator: background SI-SDR of the estimate vs the unprocessed mixture. Run once
with ``--background`` given (the test suite's setting) and once with the DSP separator.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyloudnorm

from lssd.dsp.loudness import true_peak_db
from lssd.dsp.metrics import si_sdr
from lssd.config import DubConfig
from lssd.dub.pipeline import Pipeline
from lssd.languages import parse_langs
from lssd.media import SAMPLE_RATE, decode_audio, probe, read_audio
from lssd.samples import make_sample_clip


def span_mask(n: int, spans, pad: float) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for a, b in spans:
        mask[max(0, int((a - pad) * SAMPLE_RATE)) : int((b + pad) * SAMPLE_RATE)] = True
    return mask


def report(clip, output: Path, label: str) -> None:
    background = read_audio(clip.background)
    original = read_audio(clip.speech)[0]
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    print(f"\n{label}")
    print(f"{'track':8s} {'energy in spans':>16s} {'bg corr outside':>16s} {'ΔLU vs original':>16s} "
          f"{'true peak dBTP':>15s}")
    for stream in probe(output).audio[1:]:
        dub = decode_audio(output, SAMPLE_RATE, stream=stream.index, timeline=True)[:, : background.shape[1]]
        speech = dub - background[:, : dub.shape[1]]
        energy = (speech.astype(np.float64) ** 2).sum(axis=0)
        inside = span_mask(energy.size, clip.spans, 0.2)
        corr = np.corrcoef(dub[:, ~inside].ravel(), background[:, : dub.shape[1]][:, ~inside].ravel())[0, 1]
        delta = meter.integrated_loudness(speech.mean(axis=0)) - meter.integrated_loudness(original)
        print(f"{stream.language:8s} {energy[inside].sum() / energy.sum():16.3f} {corr:16.4f} {delta:+16.2f} "
              f"{true_peak_db(dub):15.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", default="es,fr,ja")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lssd-quality-") as tmp:
        clip = make_sample_clip(Path(tmp) / "harbour.mp4")
        given = Pipeline(DubConfig(langs=parse_langs(args.langs), background=clip.background)).run(
            clip.path, output=Path(tmp) / "given.mkv")
        report(clip, given.output, "with --background (the known music-and-effects stem)")
        dsp = Pipeline(DubConfig(langs=parse_langs(args.langs))).run(clip.path, output=Path(tmp) / "dsp.mkv")
        report(clip, dsp.output, "with the DSP separator (background estimated)")
        truth = read_audio(clip.background)
        n = truth.shape[1]
        mix = decode_audio(clip.path, SAMPLE_RATE, timeline=True)[:, :n]
        estimate = read_audio(dsp.workdir / "separate" / "background.wav")[:, :n]
        print(f"\nDSP separator background SI-SDR: mixture {si_sdr(mix, truth):.2f} dB → "
              f"estimate {si_sdr(estimate, truth):.2f} dB")


if __name__ == "__main__":
    main()
