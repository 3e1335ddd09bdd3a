"""The weights-free separator: measured improvement, exact reconstruction, robustness, block equivalence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lssd.backends.dsp_separator import DspSeparator
from lssd.dsp import separation, testsignals
from lssd.dsp.metrics import si_sdr
from lssd.errors import BadInputError

from .conftest import SR


@pytest.fixture(scope="session")
def engine() -> DspSeparator:
    return DspSeparator()


@pytest.fixture(scope="session")
def separated(engine, scene):
    vocals, background = engine.separate(scene.mix, scene.sr)
    return vocals, background, list(map(tuple, engine.last_info["speech_spans"]))


def test_background_beats_the_mixture(scene, separated, record_property):
    vocals, background, _ = separated
    before = si_sdr(scene.mix, scene.background)
    after = si_sdr(background, scene.background)
    vocals_before, vocals_after = si_sdr(scene.mix, scene.speech), si_sdr(vocals, scene.speech)
    print(f"background SI-SDR: mixture {before:.2f} dB -> estimate {after:.2f} dB; "
          f"vocals: {vocals_before:.2f} dB -> {vocals_after:.2f} dB")
    record_property("si_sdr_background_db", {"mixture": round(before, 2), "estimate": round(after, 2)})
    assert after - before >= 5.0
    assert vocals_after - vocals_before >= 5.0


def test_vad_finds_the_sentences(scene, separated):
    found = separated[2]
    for start, end in scene.spans:
        covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in found)
        assert covered >= 0.9 * (end - start)
    assert sum(b - a for a, b in found) <= sum(b - a for a, b in scene.spans) + 1.5


def test_reconstruction_is_exact(scene, separated):
    vocals, background, spans = separated
    assert vocals.shape == background.shape == scene.mix.shape
    assert vocals.dtype == background.dtype == np.float32
    assert np.max(np.abs(vocals + background - scene.mix)) <= 1e-6 * np.max(np.abs(scene.mix))
    outside = np.ones(scene.mix.shape[1], dtype=bool)
    ramp = int(separation.SeparatorSettings().ramp_s * SR)
    for a, b in spans:
        outside[max(0, int(round(a * SR)) - ramp):int(round(b * SR)) + ramp] = False
    assert outside.mean() > 0.2
    assert np.all(vocals[:, outside] == 0)
    assert np.array_equal(background[:, outside], scene.mix[:, outside])


def test_no_speech_leaves_the_mix_as_background(engine):
    bed = testsignals.music_bed(6.0, SR, seed=5)
    vocals, background = engine.separate(bed, SR)
    assert engine.last_info["speech_spans"] == []
    assert np.array_equal(background, bed)
    assert not np.any(vocals)


def test_all_speech_falls_back_to_the_noise_floor(vad_model, scene):
    """One span over everything: no non-speech references exist, the minimum-statistics floor is used."""
    speech = scene.speech[:, int(1.0 * SR):int(5.3 * SR)]
    noise = np.random.default_rng(0).standard_normal(speech.shape).astype(np.float32) * 0.05
    mix = speech + noise
    vocals, background = separation.separate(mix, SR, vad_model, spans=[(0.0, mix.shape[1] / SR)])
    assert np.all(np.isfinite(background))
    assert np.max(np.abs(vocals + background - mix)) <= 1e-6 * np.max(np.abs(mix))
    assert si_sdr(background, noise) - si_sdr(mix, noise) >= 3.0


def test_mono_input_keeps_its_shape(vad_model, scene):
    mono = scene.mix[:1, : 8 * SR]
    vocals, background = separation.separate(mono, SR, vad_model, spans=[(1.0, 5.3)])
    assert vocals.shape == background.shape == (1, 8 * SR)
    assert si_sdr(background, scene.background[:1, : 8 * SR]) > si_sdr(mono, scene.background[:1, : 8 * SR])


def test_blocks_give_the_whole_signal_result(vad_model, scene, separated):
    """Block processing is an implementation detail: 3 s blocks must reproduce one whole-signal block."""
    base = dataclasses.replace(separation.SeparatorSettings(), max_reach_s=5.0)
    whole, _ = separation.separate(scene.mix, SR, vad_model, base, spans=separated[2])
    blocks, _ = separation.separate(scene.mix, SR, vad_model, dataclasses.replace(base, block_s=3.0),
                                    spans=separated[2])
    assert np.any(whole)
    assert np.max(np.abs(blocks - whole)) <= 1e-5


def test_real_speech_over_music(vad_model, jfk, record_property):
    background = testsignals.music_bed(jfk.shape[1] / SR + 8.0, SR, seed=3)
    speech = np.zeros_like(background)
    speech[:, 4 * SR:4 * SR + jfk.shape[1]] = jfk
    mix = background + speech
    _, estimate = separation.separate(mix, SR, vad_model)
    before, after = si_sdr(mix, background), si_sdr(estimate, background)
    print(f"real speech: background SI-SDR mixture {before:.2f} dB -> estimate {after:.2f} dB")
    record_property("si_sdr_background_real_db", {"mixture": round(before, 2), "estimate": round(after, 2)})
    assert after - before >= 5.0


@pytest.mark.parametrize("n", [0, 1, 1000])
def test_tiny_input_survives(engine, n):
    x = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
    vocals, background = engine.separate(x, SR)
    assert vocals.shape == background.shape == x.shape and np.array_equal(vocals + background, x)


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 100), np.float32), np.full((1, 1000), np.nan, np.float32),
                                 np.zeros((48_000, 2), np.float32)])
def test_bad_audio_is_a_user_error(engine, bad):
    with pytest.raises(BadInputError):
        engine.separate(bad, SR)


def test_provenance_names_the_model_and_settings(engine):
    prov = engine.provenance()
    assert prov["backend"] == "dsp"
    assert prov["library"].startswith("silero-vad ")
    assert len(prov["files"]["silero_vad.onnx"]) == 64
    assert prov["settings"]["context_s"] == separation.SeparatorSettings().context_s


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 16])
def test_sorting_network_median_is_numpys(n):
    from lssd.dsp.separation import _median_first_axis

    rng = np.random.default_rng(n)
    for values in (rng.random((n, 3, 40)).astype(np.float32), rng.integers(0, 3, (n, 5, 9)).astype(np.float32)):
        assert np.array_equal(_median_first_axis(values), np.median(values, axis=0))


def test_streamed_stems_equal_the_whole_arrays(scene):
    """The separate stage writes the dsp stems block by block (flat memory on long inputs): the same samples."""
    engine = DspSeparator(dataclasses.replace(separation.SeparatorSettings(), block_s=5.0))
    vocals, background = engine.separate(scene.mix, SR)
    got = {"vocals": [], "background": []}
    engine.separate_to(scene.mix, SR, got["vocals"].append, got["background"].append)
    assert np.array_equal(np.concatenate(got["vocals"], axis=1), vocals)
    assert np.array_equal(np.concatenate(got["background"], axis=1), background)
    assert max(b.shape[1] for b in got["vocals"]) < scene.mix.shape[1]  # really in pieces
