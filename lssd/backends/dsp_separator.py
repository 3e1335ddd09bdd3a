"""``--separator dsp``: the weights-free separator of :mod:`lssd.dsp.separation`.

A labelled fallback (``--strict`` refuses it): it needs only the Silero VAD model that ships inside the
silero-vad wheel, so separation works on a machine with no Demucs weights.
"""

from __future__ import annotations

from typing import Any

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig


class DspSeparator:
    """Separator engine. After each call, ``last_info`` holds the speech spans the VAD found."""

    def __init__(self, settings: Any = None) -> None:
        from lssd.dsp import separation

        self._sep = separation
        self.settings = settings or separation.SeparatorSettings()
        self._vad = separation.load_vad()
        self.last_info: dict = {}

    def separate(self, mix: Any, sr: int) -> tuple[Any, Any]:
        """(channels, n) float32 mixture → (vocals, background); vocals + background == mix (float32)."""
        x = self._sep.as_channels(mix)
        spans = self._sep.detect_speech(x, sr, self._vad, self.settings)
        vocals, background = self._sep.separate(x, sr, self._vad, self.settings, spans=spans)
        self.last_info = _spans_info(spans)
        return vocals, background

    def separate_to(self, mix: Any, sr: int, write_vocals: Any, write_background: Any) -> None:
        """As :meth:`separate`, handing both stems out block by block (``write_*((channels, frames))``), so
        neither is ever whole in memory; the same samples as :meth:`separate`."""
        import numpy as np

        from lssd.media import read_span

        x = self._sep.as_channels(mix)
        spans = self._sep.detect_speech(x, sr, self._vad, self.settings)
        for start, stop, vocals in self._sep.separate_blocks(x, sr, spans, self.settings):
            part = np.asarray(read_span(x, start, stop), dtype=np.float32)
            vocals = np.zeros_like(part) if vocals is None else vocals
            write_vocals(vocals)
            write_background(part - vocals)
        self.last_info = _spans_info(spans)

    def provenance(self) -> dict:
        from importlib import metadata

        import numpy
        import scipy

        from lssd.hashing import sha256_file

        return {
            "backend": "dsp",
            "library": f"silero-vad {metadata.version('silero-vad')}",
            "model": f"{self._vad.path.name} (bundled with silero-vad, run by onnxruntime "
                     f"{metadata.version('onnxruntime')})",
            "files": {self._vad.path.name: sha256_file(self._vad.path)},
            "settings": self._sep.settings_dict(self.settings),
            "versions": {"numpy": numpy.__version__, "scipy": scipy.__version__,
                         "librosa": metadata.version("librosa")},
            "method": "VAD-guided Wiener mask; background under speech from matching nearby non-speech frames",
        }


def _spans_info(spans: list[tuple[float, float]]) -> dict:
    return {"speech_spans": [[round(a, 3), round(b, 3)] for a, b in spans],
            "speech_seconds": round(sum(b - a for a, b in spans), 3)}


def _load(cfg: DubConfig) -> DspSeparator:
    return DspSeparator()


register(Backend(stage=stages.SEPARATE, name="dsp", label="weights-free DSP separator (VAD-guided spectral mask; fallback)",
                 priority=10, fallback=True, load=_load))
