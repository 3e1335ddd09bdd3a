"""Diarization error rate of the offline diarizer (Silero VAD + GE2E windows + agglomerative clustering).

Cases: ``../shared/media/two_speakers.wav`` against its RTTM (a real conversation, sub-second turns, one
overlap), also under a music bed 10 dB below it and separated again by the dsp separator (seeds 0–2: the
residual music that once split a voice); generated espeak-ng conversations of 2 and 3 voices, with and
without a music bed, and two men's voices under a loud bed through the dsp separator, whose truth is known. DER = (missed + false alarm + confusion) / reference speech, by pyannote.metrics, with a
0.25 s collar each side of every reference boundary (pyannote's ``collar=0.5`` is the total width) and
overlapped speech scored. Also prints the CPU seconds of the diarization and seconds per minute of audio.

    PYTHONPATH=. python benchmarks/diarize_der.py [--media ../shared/media]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from lssd import diarization
from lssd.backends.vad import speech_spans, to_mono16k
from lssd.media import SAMPLE_RATE, read_audio
from lssd.backends.dsp_separator import DspSeparator
from lssd.samples import CONVERSATION, MEN_CONVERSATION, make_conversation_clip, music_background

THREE = CONVERSATION + ((2, "Well, I am going out anyway, the fish will not wait for us."),
                        (0, "Take the small boat then, and come back before dark."),
                        (2, "I always do."))


def der(reference: list[tuple[float, float, str]], turns: list[diarization.Turn]) -> dict:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for a, b, who in reference:
        ref[Segment(a, b)] = who
    for t in turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    metric = DiarizationErrorRate(collar=0.5, skip_overlap=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "uem approximated": the union of both is the scored extent
        parts = metric.compute_components(ref, hyp)
    total = parts["total"]
    return {"der": (parts["missed detection"] + parts["false alarm"] + parts["confusion"]) / total,
            "missed": parts["missed detection"] / total, "false_alarm": parts["false alarm"] / total,
            "confusion": parts["confusion"] / total}


def run(audio16k: np.ndarray, settings=diarization.Settings()) -> tuple[list[diarization.Turn], float]:
    t0 = resource.getrusage(resource.RUSAGE_SELF)
    spans = speech_spans(audio16k)
    turns = diarization.diarize(lambda a, b: audio16k[int(a * 16000):int(b * 16000)], spans, settings)
    t1 = resource.getrusage(resource.RUSAGE_SELF)
    return turns, (t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime)


SETTINGS = diarization.Settings()


def report(name: str, audio16k: np.ndarray, reference: list) -> dict:
    turns, cpu = run(audio16k, SETTINGS)
    scores = der(reference, turns)
    found = len({t.speaker for t in turns})
    truth = len({r[2] for r in reference})
    minutes = audio16k.size / 16000 / 60
    print(f"{name:28s} speakers {found} (truth {truth})  DER {scores['der']:6.1%}  (missed {scores['missed']:.1%}, "
          f"false alarm {scores['false_alarm']:.1%}, confusion {scores['confusion']:.1%})  "
          f"cpu {cpu:.2f} s = {cpu / minutes:.1f} s per minute")
    return {"name": name, "speakers": found, "truth": truth, **scores, "cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "media")
    ap.add_argument("--window", type=float, default=diarization.WINDOW_S)
    ap.add_argument("--hop", type=float, default=diarization.HOP_S)
    args = ap.parse_args()
    global SETTINGS
    SETTINGS = diarization.Settings(window_s=args.window, hop_s=args.hop)
    diarization.diarize(lambda a, b: np.zeros(int((b - a) * 16000), np.float32), [(0.0, 1.0)])  # load the encoder
    wav = args.media / "two_speakers.wav"
    if wav.is_file():
        ref = []
        for line in (args.media / "two_speakers.rttm").read_text().splitlines():
            p = line.split()
            ref.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
        audio, sr = _read(wav)
        report("two_speakers.wav", to_mono16k(audio, sr), ref)
        speech = audio * (10 ** (-18 / 20) / np.sqrt(np.mean(audio ** 2)))
        for seed in range(3):
            bed = music_background(speech.shape[-1] / sr, sr, seed, -28.0)[:, :speech.shape[-1]]
            vocals, _ = DspSeparator().separate(speech + bed, sr)
            report(f"  + bed, dsp-separated ({seed})", to_mono16k(vocals, sr), ref)
    else:
        print(f"{wav} not found: skipping the real recording")
    with tempfile.TemporaryDirectory() as tmp:
        for lines, label in ((CONVERSATION, "2 espeak voices"), (THREE, "3 espeak voices")):
            for music in (False, True):
                clip = make_conversation_clip(Path(tmp) / f"c{len(lines)}{music}.mkv", lines=lines, music=music)
                mix = read_audio(clip.speech, SAMPLE_RATE) + read_audio(clip.background, SAMPLE_RATE)
                truth = [(a, b, w) for (a, b), w in zip(clip.spans, clip.speakers, strict=True)]
                report(f"{label}{' + music' if music else ''}", to_mono16k(mix, SAMPLE_RATE), truth)
        for seed in (0, 1):
            clip = make_conversation_clip(Path(tmp) / f"men{seed}.mkv", lines=MEN_CONVERSATION, seed=seed, background_db=-18.0)
            mix = read_audio(clip.speech, SAMPLE_RATE) + read_audio(clip.background, SAMPLE_RATE)
            vocals, _ = DspSeparator().separate(mix, SAMPLE_RATE)
            truth = [(a, b, w) for (a, b), w in zip(clip.spans, clip.speakers, strict=True)]
            report(f"2 men + loud bed, dsp ({seed})", to_mono16k(vocals, SAMPLE_RATE), truth)


def _read(path: Path):
    audio = read_audio(path, SAMPLE_RATE)
    return (audio if audio.ndim > 1 else np.stack([audio, audio])), SAMPLE_RATE


if __name__ == "__main__":
    main()
