"""``--vc world`` (WORLD F0 + spectral-envelope matching, :mod:`lssd.dsp.world_vc`) and ``--vc none``.

``world`` is a real, weights-free conversion method, not a fallback; ``none`` is the labelled fallback
that leaves the dub's voice as synthesised.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig


class WorldVoiceConverter:
    """VoiceConverter engine.

    ``convert`` follows the protocol (array only) and leaves the per-call statistics in ``last_info``;
    ``convert_with_info`` returns both, for stages that store them. Info keys: f0_source_hz,
    f0_reference_hz, f0_output_hz, f0_std_ratio, warp, tilt_db_per_octave, gain_db, working_rate,
    f0_method, note (None, or why the speech was left unchanged).
    """

    min_reference_s = 1.0  # F0 statistics of less speech are noisy: the stage adds nearby segments up to this
    max_voices = 256  # analysed references kept (a few KiB each): every span of a long clip, for every language

    def __init__(self, settings: Any = None) -> None:
        from lssd.dsp import world_vc

        self._vc = world_vc
        self.settings = settings or world_vc.VCSettings()
        self.last_info: dict = {}
        self._voices: OrderedDict[tuple, Any] = OrderedDict()

    def convert_with_info(self, speech: Any, reference: Any, sr: int) -> tuple[Any, dict]:
        out, info = self._vc.convert_voice(speech, self.voice(reference, sr), sr, self.settings)
        self.last_info = info
        return out, info

    def voice(self, reference: Any, sr: int) -> Any:
        """The reference analysed once: every target language converts towards the same original span."""
        import numpy as np

        ref = np.ascontiguousarray(reference)
        key = (hashlib.sha256(ref.tobytes()).hexdigest(), ref.dtype.str, ref.shape, sr)
        if key in self._voices:
            self._voices.move_to_end(key)
        else:
            self._voices[key] = self._vc.reference_voice(ref, sr, self.settings)
            if len(self._voices) > self.max_voices:
                self._voices.popitem(last=False)
        return self._voices[key]

    def convert(self, speech: Any, reference: Any, sr: int) -> Any:
        return self.convert_with_info(speech, reference, sr)[0]

    def provenance(self) -> dict:
        from importlib import metadata

        return {
            "backend": "world",
            "library": f"pyworld {metadata.version('pyworld')}",
            "model": None,
            "files": {},
            "settings": self._vc.settings_dict(self.settings),
            "method": "log-F0 mean/std matching, frequency-warped + tilt-corrected envelope, WORLD resynthesis",
        }


class NoVoiceConversion:
    """Fallback engine: the dub keeps its synthetic voice."""

    def __init__(self) -> None:
        self.last_info: dict = {"note": "no voice conversion"}
        self.min_reference_s = 0.0

    def convert_with_info(self, speech: Any, reference: Any, sr: int) -> tuple[Any, dict]:
        import numpy as np

        return np.asarray(speech, dtype=np.float32), dict(self.last_info)

    def convert(self, speech: Any, reference: Any, sr: int) -> Any:
        return self.convert_with_info(speech, reference, sr)[0]

    def provenance(self) -> dict:
        return {"backend": "none", "library": None, "model": None, "files": {}, "settings": {}}


def _load_world(cfg: DubConfig) -> WorldVoiceConverter:
    return WorldVoiceConverter()


def _load_none(cfg: DubConfig) -> NoVoiceConversion:
    return NoVoiceConversion()


register(Backend(stage=stages.VOICE_CONVERT, name="world", label="WORLD F0 + spectral-envelope matching (offline)",
                 priority=10, load=_load_world))
register(Backend(stage=stages.VOICE_CONVERT, name="none", label="no voice conversion (fallback)", priority=0,
                 fallback=True, load=_load_none))
