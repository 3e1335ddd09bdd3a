"""Seconds and real-time factor of the DSP cores on 60 s of generated audio.

    .venv/bin/python benchmarks/dsp_stages.py [--seconds 60] [--f0-method dio|harvest]

Separator: a stereo 48 kHz mix (music bed + espeak-ng speech about half the time), VAD included.
Voice conversion: the same speech cut into 5 s segments, each converted towards another voice.
Loudness + EQ: the same 5 s segments, EQ-matched then loudness-matched to the other voice.
The real-time factor is seconds / audio seconds (below 1 = faster than real time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lssd.dsp import loudness, separation, testsignals, world_vc
from lssd.dsp.metrics import si_sdr

SR = 48_000
TEXT = ("The harbour wakes up early, long before the first ferry leaves for the islands. "
        "Fishermen count their nets and argue about the weather in loud and cheerful voices.")


def _line(name: str, seconds: float, audio_seconds: float, extra: str = "") -> None:
    print(f"{name:<28} {seconds:7.2f} s   RTF {seconds / audio_seconds:6.3f}   {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--f0-method", default="dio", choices=["dio", "harvest"])
    args = parser.parse_args()

    speech = testsignals.espeak(TEXT, sr=SR)
    other = testsignals.espeak(TEXT, voice="en+f3", sr=SR)
    n = int(args.seconds * SR)
    background = testsignals.music_bed(args.seconds, SR)
    starts = np.arange(1.0, args.seconds - speech.size / SR, 2 * speech.size / SR)
    voice = testsignals.place(n, [(float(s), speech) for s in starts], SR)
    mix = background + voice[None, :]

    vad = separation.load_vad()
    t = time.perf_counter()
    spans = separation.detect_speech(mix, SR, vad)
    t_vad = time.perf_counter() - t
    _, estimate = separation.separate(mix, SR, vad, spans=spans)
    t_sep = time.perf_counter() - t
    _line("separate (VAD + mask)", t_sep, args.seconds,
          f"VAD {t_vad:.2f} s; background SI-SDR {si_sdr(mix, background):.1f} -> {si_sdr(estimate, background):.1f} dB")

    seg = 5 * SR
    speech_long = np.resize(speech, n)
    segments = [speech_long[i:i + seg] for i in range(0, n - seg + 1, seg)]
    reference = other[:seg]
    settings = world_vc.VCSettings(f0_method=args.f0_method)
    t = time.perf_counter()
    for s in segments:
        world_vc.convert_voice(s, reference, SR, settings)
    t_vc = time.perf_counter() - t
    _line(f"voice-convert ({args.f0_method})", t_vc, len(segments) * 5.0,
          f"{t_vc / len(segments):.2f} s per 5 s segment")

    target = loudness.integrated_loudness(reference, SR)
    t = time.perf_counter()
    for s in segments:
        shaped, _ = loudness.eq_match(s, reference, SR)
        loudness.match_loudness(shaped, SR, target)
    t_ld = time.perf_counter() - t
    _line("EQ + loudness match", t_ld, len(segments) * 5.0, f"{t_ld / len(segments):.3f} s per 5 s segment")


if __name__ == "__main__":
    main()
