"""Silero VAD without torch: the ONNX file inside the silero-vad wheel, run by ONNX Runtime (already
installed for faster-whisper), and the wheel's speech-span rule applied to its probabilities.

Why not ``silero_vad.load_silero_vad()``: importing the silero_vad package imports torch, about 2 s of
every offline dub's start-up on two cores, although nothing else in the offline stack needs torch; and the
TorchScript model costs ≈0.45 ms per 32 ms window against ≈0.17 ms here. Same model, same numbers: on
jfk.flac the probabilities differ from the TorchScript model's by at most 1.3e-5 (no window changes side
of the 0.5 threshold), and :func:`speech_timestamps` returns what silero-vad's
``get_speech_timestamps_from_probs`` returns (tests compare both on many inputs).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from functools import cache
from pathlib import Path

import numpy as np

RATE = 16_000  # the model's rate
WINDOW = 512  # samples per probability (32 ms)
CONTEXT = 64  # samples of the previous window the model sees again
MODEL = "silero-vad"  # catalog entry (bundled in the silero-vad wheel)
ONNX_FILE = "silero_vad.onnx"


class SileroVad:
    """One ONNX Runtime session; :meth:`probabilities` keeps its recurrent state in local variables, so
    one loaded model serves any number of signals (and threads) at once."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1  # 32 ms windows: more threads only wait for each other
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def probabilities(self, blocks: Iterable[np.ndarray]) -> np.ndarray:
        """Speech probability per 32 ms window of mono 16 kHz audio given in consecutive blocks of any
        length (the last window is zero-padded), one model state over all of them."""
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros((1, CONTEXT), dtype=np.float32)
        rate = np.array(RATE, dtype=np.int64)
        out: list[float] = []
        rest = np.zeros(0, dtype=np.float32)  # samples short of a whole window, carried to the next block
        for block in chain(blocks, [None]):  # None: the end
            if block is None:
                if not rest.size:
                    break
                x = np.pad(rest, (0, -rest.size % WINDOW))
            else:
                x = np.concatenate([rest, np.asarray(block, dtype=np.float32).ravel()])
            whole = x.size - x.size % WINDOW
            x, rest = x[:whole], x[whole:]
            for window in x.reshape(-1, WINDOW):
                inp = np.concatenate([context, window[None, :]], axis=1)
                prob, state = self.session.run(None, {"input": inp, "state": state, "sr": rate})
                context = inp[:, -CONTEXT:]
                out.append(float(prob[0, 0]))
        return np.asarray(out, dtype=np.float64)


@cache
def load() -> SileroVad:
    """The model, once per process, from the catalog's ``silero-vad`` entry (its hash is checked there)."""
    from lssd.store import get_store

    return SileroVad(get_store().require(MODEL, stage="vad") / ONNX_FILE)


def speech_timestamps(probs: np.ndarray, n_samples: int, threshold: float = 0.5, min_speech_s: float = 0.25,
                      max_speech_s: float = float("inf"), min_silence_s: float = 0.1, pad_s: float = 0.03
                      ) -> list[tuple[int, int]]:
    """Speech spans (sample indices at 16 kHz) from per-window probabilities, by silero-vad's rule
    (``get_speech_timestamps_from_probs`` with its defaults): enter speech at ``threshold``, leave it after
    ``min_silence_s`` below ``threshold - 0.15``; drop spans of ``min_speech_s`` or less; a span reaching
    ``max_speech_s`` is cut at its longest pause over 98 ms (or where it stands); pad each side by ``pad_s``
    (half the gap where two spans are closer than twice that)."""
    min_speech = RATE * min_speech_s
    pad = RATE * pad_s
    max_speech = RATE * max_speech_s - WINDOW - 2 * pad
    min_silence = RATE * min_silence_s
    min_pause_at_cut = RATE * 0.098
    off = max(threshold - 0.15, 0.01)

    spans: list[list[int]] = []
    start: int | None = None  # the open span's start, while in speech
    silence_from = 0  # where the current pause inside the open span began (0 = none)
    pauses: list[tuple[int, int]] = []  # (where, how long) of the open span's pauses over 98 ms
    for i, p in enumerate(probs):
        at = WINDOW * i
        if p >= threshold and silence_from:
            if at - silence_from > min_pause_at_cut:
                pauses.append((silence_from, at - silence_from))
            silence_from = 0
        if p >= threshold and start is None:
            start = at
            continue
        if start is not None and at - start > max_speech:
            if pauses:
                cut, length = max(pauses, key=lambda pause: pause[1])
                spans.append([start, cut])
                start = cut + length  # the next span starts where that pause ended
            else:
                spans.append([start, at])
                start = None
            silence_from, pauses = 0, []
            if start is None:
                continue
        if p < off and start is not None:
            if not silence_from:
                silence_from = at
            if at - silence_from < min_silence:
                continue
            if silence_from - start > min_speech:
                spans.append([start, silence_from])
            start, silence_from, pauses = None, 0, []
    if start is not None and n_samples - start > min_speech:
        spans.append([start, n_samples])

    for i, span in enumerate(spans):
        if i == 0:
            span[0] = int(max(0, span[0] - pad))
        if i + 1 < len(spans):
            gap = spans[i + 1][0] - span[1]
            if gap < 2 * pad:
                span[1] += int(gap // 2)
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - gap // 2))
            else:
                span[1] = int(min(n_samples, span[1] + pad))
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - pad))
        else:
            span[1] = int(min(n_samples, span[1] + pad))
    return [(a, b) for a, b in spans]
