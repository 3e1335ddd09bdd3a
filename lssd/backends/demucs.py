"""Demucs, in-process: the paper's separation step (§6 step 1), vocals against everything else.

Demucs splits a mix into four stems (drums, bass, other, vocals); dubbing needs two. The background is
the mixture minus the vocals — the other three stems plus whatever the model left unexplained — so
``vocals + background`` is the mix exactly and nothing of the original soundtrack is lost.

Models load once per process from the store folder, laid out as demucs' own local repository
(``<name>.yaml`` listing signatures, one ``<signature>-<sha256 prefix>.th`` package each). lssd reads the
packages itself, through torch's restricted unpickler with exactly the classes the format names, because
demucs' loader unpickles them with every global allowed; demucs then only builds the models.

The pipeline works at 48 kHz and Demucs at 44.1 kHz: audio is resampled in and out. Demucs holds all four stems of whatever it is given,
so an hour-long input goes through in blocks of a few minutes joined by linear crossfades, which keeps
memory bounded; inside a block, ``apply_model(split=True)`` runs the model's own overlapping segments.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.errors import BadInputError, LssdError, model_load_error
from lssd.media import pad_or_trim, resample

STAGE = stages.SEPARATE
BLOCK_S = 180.0  # seconds per block: 4 stems x 2 channels x 44.1 kHz x 180 s ≈ 250 MB of float32 output
CROSSFADE_S = 4.0  # seconds shared by consecutive blocks, faded linearly
OVERLAP = 0.25  # demucs' own default overlap between its segments
SHIFTS = 0  # demucs' default of one random shift averages nothing and makes reruns differ


def blocks(n: int, block: int, fade: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, stop, weight) covering ``[0, n)``: consecutive blocks share ``fade`` samples where one ramps
    down as the next ramps up, so the weights sum to one at every sample."""
    if n <= block:
        yield 0, n, np.ones(n, dtype=np.float32)
        return
    step = block - fade
    ramp = (np.arange(fade, dtype=np.float32) + 0.5) / max(fade, 1)
    for start in range(0, n - fade, step):
        stop = min(start + block, n)
        weight = np.ones(stop - start, dtype=np.float32)
        if start > 0:
            weight[:fade] = ramp
        if stop < n:
            weight[stop - start - fade :] = 1.0 - ramp
        yield start, stop, weight


def _model_classes() -> tuple[type, ...]:
    """The classes a Demucs package's ``klass`` may be."""
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return Demucs, HDemucs, HTDemucs


def _package_globals() -> list:
    """What a Demucs package may name besides tensors and plain data: its model class, and the fraction and
    NumPy float its constructor arguments hold (files written under NumPy 1 spell ``numpy.core``)."""
    from fractions import Fraction

    scalar = (np._core if hasattr(np, "_core") else np.core).multiarray.scalar
    return [*_model_classes(), Fraction, np.dtype, np.dtypes.Float64DType,
            (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]


def _load_package(path: Path):
    """One model from a Demucs package (``{"klass", "args", "kwargs", "state"}``), read by lssd rather than by
    demucs' own loader, which unpickles with every global allowed."""
    from demucs.states import load_model

    from lssd.store.safe_load import load_weights

    package = load_weights(path, _package_globals())
    if not isinstance(package, dict) or package.get("klass") not in _model_classes():
        raise ValueError(f"{path.name} is not a Demucs model package")
    return load_model(package)  # given the loaded dict, demucs only builds the class and sets its state


def _checkpoint(folder: Path, signature: str) -> Path:
    """``<signature>-<sha256 prefix>.th`` or ``<signature>.th``, as demucs' local repository names them."""
    found = [p for p in folder.glob("*.th") if p.stem.rsplit("-", 1)[0] == signature]
    if len(found) != 1:
        raise ValueError(f"{len(found)} checkpoints for signature {signature} in {folder}")
    return found[0]


def _read_bag(name: str, folder: Path):
    """The bag of models ``<name>.yaml`` lists, as ``demucs.pretrained.get_model(name, repo=folder)`` builds it."""
    import yaml
    from demucs.apply import BagOfModels

    bag = yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
    models = [_load_package(_checkpoint(folder, str(sig))) for sig in bag["models"]]
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


def _load_model(name: str, folder: Path, device: str):
    """The model or bag of models on ``device``, or one sentence. A bag kept on the GPU is not shuttled there
    and back for every clip."""
    if name.endswith("_q") and importlib.util.find_spec("diffq") is None:
        raise BadInputError(f"{STAGE}: Demucs model '{name}' is quantized and needs the 'diffq' package; run "
                            f"`pip install diffq`, or use --separator-model {name[:-2]} (the same models unquantized)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read_bag(name, folder).to(device).eval()
    except LssdError:
        raise
    except Exception as exc:
        raise model_load_error(STAGE, f"Demucs model '{name}' from {folder}", name, exc) from None


class DemucsSeparator:
    """The loaded model and how it is applied; ``separate`` may be called for any number of clips."""

    def __init__(self, name: str, device: str, block_s: float = BLOCK_S, crossfade_s: float = CROSSFADE_S):
        from lssd.store import get_store

        store = get_store()
        entry = store.entry(name)
        folder = store.require(entry.name, stage=STAGE)
        self.name = entry.name
        self._store = store.provenance(entry.name)
        self.model = _load_model(entry.name, folder, device)
        if "vocals" not in self.model.sources:
            raise LssdError(f"{STAGE}: Demucs model '{entry.name}' has no vocals stem (it has {self.model.sources})")
        self.vocals_index = self.model.sources.index("vocals")
        self.device = device
        self.block_s = block_s
        self.crossfade_s = crossfade_s

    @property
    def samplerate(self) -> int:
        return int(self.model.samplerate)

    def separate(self, mix: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        mix = np.atleast_2d(np.asarray(mix, dtype=np.float32))
        reference = mix.mean(axis=0)
        offset, scale = float(reference.mean()), float(reference.std())  # demucs' own input standardisation
        scale = scale if scale > 1e-8 else 1.0
        vocals = np.zeros_like(mix)
        fade = int(round(self.crossfade_s * sr))
        for start, stop, weight in blocks(mix.shape[1], max(int(round(self.block_s * sr)), 2 * fade), fade):
            block = (mix[:, start:stop] - offset) / scale
            vocals[:, start:stop] += weight * self._vocals(block, sr) * scale  # any DC offset stays in the background
        return vocals, mix - vocals

    def _vocals(self, block: np.ndarray, sr: int) -> np.ndarray:
        """Vocals of a standardised (channels, n) block at ``sr``, same shape."""
        channels = self.model.audio_channels
        if block.shape[0] in (1, channels):
            out = self._apply(np.repeat(block, channels // block.shape[0], axis=0), sr)
            return out.mean(axis=0, keepdims=True) if block.shape[0] == 1 else out
        # neither mono nor the model's layout (e.g. 5.1): each channel on its own, as mono
        return np.concatenate([self._apply(np.repeat(ch[None], channels, axis=0), sr).mean(axis=0, keepdims=True)
                               for ch in block])

    def _apply(self, x: np.ndarray, sr: int) -> np.ndarray:
        import torch
        from demucs.apply import apply_model

        n = x.shape[1]
        wav = torch.from_numpy(np.ascontiguousarray(resample(x, sr, self.samplerate)))
        with torch.inference_mode():
            stems = apply_model(self.model, wav[None], shifts=SHIFTS, split=True, overlap=OVERLAP,
                                device=self.device, progress=False)
        vocals = resample(stems[0, self.vocals_index].float().cpu().numpy(), self.samplerate, sr)
        return pad_or_trim(vocals, n)

    def provenance(self) -> dict:
        import torch

        return {
            "backend": "demucs",
            "library": f"demucs {version('demucs')}, torch {torch.__version__}",
            "model": self.name,
            "files": self._store["files"],
            "source": self._store["source"],
            "licence": self._store["licence"],
            "settings": {"device": self.device, "model_samplerate": self.samplerate,
                         "sources": list(self.model.sources), "stems": "vocals; background = mix - vocals",
                         "shifts": SHIFTS, "split": True, "overlap": OVERLAP, "block_s": self.block_s,
                         "crossfade_s": self.crossfade_s},
        }


def _load(cfg: DubConfig) -> DemucsSeparator:
    from lssd.hf import torch_device

    return DemucsSeparator(cfg.separator_model, torch_device(cfg.device))


def _cache_key(cfg: DubConfig) -> tuple:
    from lssd.hf import torch_device
    from lssd.store import get_store

    return (torch_device(cfg.device), str(get_store().path(cfg.separator_model)))


register(
    Backend(
        stage=STAGE,
        name="demucs",
        label="Demucs (two stems: vocals / everything else)",
        priority=100,
        load=_load,
        model=lambda cfg: cfg.separator_model,
        cache_key=_cache_key,
    )
)
