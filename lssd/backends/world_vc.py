"""``--vc world`` (WORLD F0 + spectral-envelope matching, :mod:`lssd.dsp.world_vc`) and ``--vc none``.

``world`` is a real, weights-free conversion method, not a fallback; ``none`` is the labelled fallback
that leaves the dub's voice as synthesised.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig


class WorldVoiceConverter:
    """VoiceConverter engine.

    ``convert_with_info`` returns the audio and its statistics (what the stage calls, from several threads
    at once); ``convert`` returns the audio and leaves the statistics in ``last_info``. Info keys: f0_source_hz,
    f0_reference_hz, f0_output_hz, f0_std_ratio, warp, tilt_db_per_octave, gain_db, working_rate,
    f0_method, note (None, or why the speech was left unchanged).
    """

    thread_safe = True  # no state but the lock-guarded reference cache; WORLD releases the GIL
    min_reference_s = 1.0  # F0 statistics of less speech are noisy: the stage adds nearby segments up to this
    max_voices = 256  # analysed references kept (a few KiB each): every span of a long clip, for every language

    def __init__(self, settings: Any = None) -> None:
        from lssd.dsp import world_vc

        self._vc = world_vc
        self.settings = settings or world_vc.VCSettings()
        self.last_info: dict = {}
        self._voices: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def convert_with_info(self, speech: Any, reference: Any, sr: int) -> tuple[Any, dict]:
        return self._vc.convert_voice(speech, self.voice(reference, sr), sr, self.settings)

    def voice(self, reference: Any, sr: int) -> Any:
        """The reference analysed once: every target language converts towards the same original span."""
        import numpy as np

        ref = np.ascontiguousarray(reference)
        key = (hashlib.sha256(ref.tobytes()).hexdigest(), ref.dtype.str, ref.shape, sr)
        with self._lock:
            voice = self._voices.get(key)
            if voice is not None:
                self._voices.move_to_end(key)
                return voice
        voice = self._vc.reference_voice(ref, sr, self.settings)  # outside the lock: two spans at once
        with self._lock:
            self._voices[key] = voice
            if len(self._voices) > self.max_voices:
                self._voices.popitem(last=False)
        return voice

    def convert(self, speech: Any, reference: Any, sr: int) -> Any:
        out, self.last_info = self.convert_with_info(speech, reference, sr)
        return out

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

    thread_safe = True
    min_reference_s = 0.0

    def __init__(self) -> None:
        self.last_info: dict = {"note": "no voice conversion"}

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
