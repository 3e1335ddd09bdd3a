"""Speaker embeddings with a real offline encoder: Resemblyzer's GE2E model (Apache-2.0).

The weights ship inside the ``Resemblyzer`` wheel (``resemblyzer/pretrained.pt``). Resemblyzer's own
``VoiceEncoder`` unpickles them with torch's default loader and imports ``webrtcvad`` at import time, so
lssd builds the same network here and reads only the tensors (``torch.load(weights_only=True)``), never
importing the package. Same front end as Resemblyzer: 16 kHz, 40 mel bands (25 ms / 10 ms), 1.6 s partials.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path

import numpy as np

from lssd.errors import LssdError, model_load_error

SAMPLE_RATE = 16_000
N_MELS = 40
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
PARTIAL_STEP = 77  # frames between partials: Resemblyzer's default rate of 1.3 partials per second
HIDDEN = 256
LAYERS = 3
WEIGHTS = "resemblyzer/pretrained.pt"
MODEL = "Resemblyzer GE2E (pretrained.pt from the Resemblyzer wheel)"
_ONE_THREAD = threading.Lock()


def weights_path() -> Path:
    """``pretrained.pt`` inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    path = folder / "pretrained.pt" if folder else None
    if path is None or not path.is_file():
        raise LssdError("speaker similarity: the GE2E encoder ships inside the pip package 'Resemblyzer', "
                        "which is not installed; run `pip install --no-deps Resemblyzer==0.1.4` (./install.sh does)")
    return path


@functools.lru_cache(maxsize=1)
def encoder():
    """The GE2E network (LSTM 3×256 + linear + ReLU) with the wheel's weights, on the CPU, in eval mode."""
    import torch
    from torch import nn

    class GE2E(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
            self.linear = nn.Linear(HIDDEN, HIDDEN)

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.linalg.norm(raw, dim=1, keepdim=True).clamp_min(1e-12)

    path = weights_path()
    model = GE2E()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        model.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
    except Exception as exc:
        raise model_load_error("speaker similarity", "the GE2E encoder", "Resemblyzer", exc) from None
    return model.eval()


def forward(mels: np.ndarray) -> np.ndarray:
    """GE2E embeddings (n, HIDDEN) of a batch of mel windows (n, frames, N_MELS), on one torch thread: the
    LSTM steps through 10 ms frames, too little work per step to share out, and on a busy machine a second
    intra-op thread spins waiting for a core (measured here: 4–5 CPU s instead of 0.3 s for 80 windows)."""
    import torch

    with _ONE_THREAD:  # torch's thread count is the process's: set and restored by one caller at a time
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                return encoder()(torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32))).numpy()
        finally:
            torch.set_num_threads(threads)


def _mel(wav16k: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=wav16k, sr=SAMPLE_RATE, n_fft=WINDOW, hop_length=HOP, n_mels=N_MELS)
    return mel.astype(np.float32).T  # (frames, mels); power, not log: what the model was trained on


def embed(wav16k: np.ndarray) -> np.ndarray | None:
    """L2-normalised 256-d embedding of mono 16 kHz speech (mean of 1.6 s partials); None under 0.5 s."""
    wav = np.asarray(wav16k, dtype=np.float32).reshape(-1)
    if wav.size < SAMPLE_RATE // 2 or not np.any(wav):
        return None
    wav = wav * (10 ** (-30 / 20) / (np.sqrt(np.mean(wav**2)) + 1e-12))  # Resemblyzer normalises to −30 dBFS
    mel = _mel(wav)
    if mel.shape[0] < PARTIAL_FRAMES:
        mel = np.pad(mel, ((0, PARTIAL_FRAMES - mel.shape[0]), (0, 0)))
    starts = range(0, max(1, mel.shape[0] - PARTIAL_FRAMES + 1), PARTIAL_STEP)
    partials = forward(np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts]))
    mean = partials.mean(axis=0)
    return mean / (np.linalg.norm(mean) + 1e-12)


def similarity(a16k: np.ndarray, b16k: np.ndarray) -> float | None:
    """Cosine similarity of two voices (GE2E embeddings), or None when either has too little audio."""
    ea, eb = embed(a16k), embed(b16k)
    if ea is None or eb is None:
        return None
    return float(np.dot(ea, eb))
