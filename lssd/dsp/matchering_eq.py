"""EQ/level matching with matchering, as the paper did (§6 step 6) — only when the user installed it.

matchering is GPL-3.0, so lssd never depends on it (``pip install lssd[matchering]`` adds it); the
built-in :func:`lssd.dsp.loudness.eq_match` is the default. matchering works on files, always writes
44.1 kHz stereo and also matches RMS, so its output is converted back to the input's rate, channel
count and length here (run the loudness match after it, as after the built-in EQ).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from lssd.errors import BadInputError, LssdError
from lssd.media import pad_or_trim, resample

MATCHERING_RATE = 44_100
MIN_SECONDS = 0.1  # matchering needs 4096 samples (0.093 s at 44.1 kHz) per input


def _import_matchering():
    try:
        import matchering
    except ImportError:
        raise LssdError("matchering is not installed (it is GPL-3.0, so optional: pip install 'lssd[matchering]'),"
                        " or use --eq builtin") from None
    return matchering


def _write(path: Path, audio: np.ndarray, sr: int) -> None:
    a = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    sf.write(str(path), a.T, sr, subtype="FLOAT")


def matchering_match(x: np.ndarray, reference: np.ndarray, sr: int) -> np.ndarray:
    """``x`` ((n,) or (channels, n)) matched to ``reference`` by matchering, same shape, rate and length."""
    mg = _import_matchering()
    a = np.atleast_2d(np.asarray(x, dtype=np.float32))
    for name, sig in (("dub", a), ("reference", np.atleast_2d(reference))):
        if sig.shape[-1] < MIN_SECONDS * sr:
            raise BadInputError(f"matchering needs at least {MIN_SECONDS} s of audio; the {name} is shorter")
    with tempfile.TemporaryDirectory(prefix="lssd-matchering-") as tmp:
        target, ref, out = Path(tmp) / "target.wav", Path(tmp) / "reference.wav", Path(tmp) / "result.wav"
        _write(target, a, sr)
        _write(ref, reference, sr)
        mg.process(target=str(target), reference=str(ref),
                   results=[mg.Result(str(out), "FLOAT", use_limiter=False, normalize=False)],
                   config=mg.Config(allow_equality=True))
        data, out_sr = sf.read(str(out), dtype="float32", always_2d=True)
    y = resample(data.T, out_sr, sr)
    y = y.mean(axis=0, keepdims=True) if a.shape[0] == 1 else y[: a.shape[0]]
    y = pad_or_trim(y, a.shape[1])
    return y.astype(np.float32).reshape(np.shape(x))
