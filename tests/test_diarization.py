"""lssd.diarization: windows, clustering, turns, segment splitting; the offline diarizer on real and
generated speech with its DER (pyannote.metrics, 0.25 s collar each side)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lssd import diarization
from lssd.diarization import Settings, Turn
from lssd.segments import Segment, Word


def test_window_centres_cover_each_span_to_its_end():
    centres = diarization.window_centres([(0.0, 0.8), (2.0, 4.0)], window_s=1.2, hop_s=0.25)
    assert centres[0] == pytest.approx(0.4)  # a span shorter than a window: one, in its middle
    assert centres[1] == pytest.approx(2.6) and centres[-1] == pytest.approx(3.4)
    steps = np.diff(centres[1:])
    assert np.allclose(steps[:-1], 0.25) and 0 < steps[-1] <= 0.25  # the last window ends at the span's end


def _blobs(sizes, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), 256))
    rows = [c + spread * np.linalg.norm(c) / 16 * rng.standard_normal((n, 256)) for c, n in zip(centres, sizes)]
    e = np.concatenate(rows)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_cluster_estimates_the_count_and_numbers_by_first_appearance():
    e = _blobs([30, 20, 25])
    labels = diarization.cluster(e, 0.25, Settings())
    assert labels.max() + 1 == 3 and labels[0] == 0 and labels[30] == 1 and labels[50] == 2
    assert len(set(labels[:30])) == len(set(labels[30:50])) == len(set(labels[50:])) == 1


def test_cluster_obeys_a_fixed_count_and_the_bounds():
    e = _blobs([30, 20, 25])
    assert diarization.cluster(e, 0.25, Settings(speakers=2)).max() + 1 == 2
    assert diarization.cluster(e, 0.25, Settings(max_speakers=2)).max() + 1 == 2
    assert diarization.cluster(_blobs([40]), 0.25, Settings(min_speakers=2)).max() + 1 == 2


def test_a_tiny_cluster_is_noise_joined_to_its_nearest_speaker():
    e = _blobs([30, 30, 3])  # 3 windows = 0.75 s of speech: under MIN_SPEAKER_S
    labels = diarization.cluster(e, 0.25, Settings())
    assert labels.max() + 1 == 2


@pytest.mark.parametrize("seed", [0, 1])
def test_noisy_voices_are_not_split_the_threshold_only_bounds_the_count(seed):
    e = _blobs([40, 30], seed=seed, spread=0.7)  # spread enough that the 0.3 threshold alone finds 3–6
    labels = diarization.cluster(e, 0.5, Settings())
    assert labels.max() + 1 == 2
    assert len(set(labels[:40])) == len(set(labels[40:])) == 1


def test_turns_follow_the_nearest_window_centre():
    turns = diarization.turns_from_windows([(0.0, 2.0)], [0.5, 1.0, 1.5], np.array([0, 0, 1]))
    assert [t.speaker for t in turns] == ["S1", "S2"]
    assert turns[0].start == 0.0 and turns[-1].end == 2.0 and turns[0].end == pytest.approx(1.25, abs=0.011)


def _words(*items):
    return [Word(a, b, w) for a, b, w in items]


def test_a_segment_spanning_a_speaker_change_is_split_between_the_words():
    seg = Segment(0, 0.0, 4.0, "I did. Then go.", _words((0.1, 0.5, "I"), (0.6, 1.4, "did."), (2.2, 2.9, "Then"),
                                                          (3.0, 3.9, "go.")))
    turns = [Turn(0.0, 1.8, "S1"), Turn(1.8, 4.0, "S2")]
    out = diarization.split_segments([seg, Segment(1, 5.0, 6.0, "", [])], turns)
    assert [(s.id, s.speaker, s.text) for s in out] == [(0, "S1", "I did."), (1, "S2", "Then go."), (2, "S2", "")]
    assert out[0].start == 0.0 and out[0].end == 1.4 and out[1].start == 2.2 and out[1].end == 4.0


def test_a_one_word_flip_shorter_than_min_piece_stays_with_its_neighbours():
    seg = Segment(0, 0.0, 3.0, "a b c", _words((0.0, 1.0, "a"), (1.1, 1.25, "b"), (1.3, 3.0, "c")))
    turns = [Turn(0.0, 1.05, "S1"), Turn(1.05, 1.28, "S2"), Turn(1.28, 3.0, "S1")]
    out = diarization.split_segments([seg], turns)
    assert [(s.speaker, s.text) for s in out] == [("S1", "a b c")]


def test_speaker_at_takes_the_nearest_turn_when_none_overlaps():
    turns = [Turn(0.0, 1.0, "S1"), Turn(5.0, 6.0, "S2")]
    assert diarization.speaker_at(turns, 4.0, 4.5) == "S2"
    assert diarization.speaker_at([], 0, 1) is None


# ---- the offline diarizer on speech -------------------------------------------------------------------


def _der(reference, turns):
    metrics = pytest.importorskip("pyannote.metrics.diarization")
    from pyannote.core import Annotation, Segment as Span

    ref, hyp = Annotation(), Annotation()
    for a, b, who in reference:
        ref[Span(a, b)] = who
    for t in turns:
        hyp[Span(t.start, t.end)] = t.speaker
    return metrics.DiarizationErrorRate(collar=0.5, skip_overlap=False)(ref, hyp, uem=Span(0, max(b for _, b, _ in reference) + 1))


def _diarize(audio16k: np.ndarray, settings: Settings = Settings()):
    from lssd.backends.vad import speech_spans

    return diarization.diarize(lambda a, b: audio16k[int(a * 16000):int(b * 16000)], speech_spans(audio16k), settings)


def _conversation(tmp_path: Path, lines, music: bool):
    from lssd.backends.vad import to_mono16k
    from lssd.media import SAMPLE_RATE, read_audio
    from lssd.samples import make_conversation_clip

    clip = make_conversation_clip(tmp_path / "talk.mkv", lines=lines, music=music)
    mix = read_audio(clip.speech, SAMPLE_RATE) + read_audio(clip.background, SAMPLE_RATE)
    truth = [(a, b, w) for (a, b), w in zip(clip.spans, clip.speakers, strict=True)]
    return to_mono16k(mix, SAMPLE_RATE), truth


def test_two_generated_voices_over_music_are_found_with_der_under_10_percent(tmp_path):
    from lssd.samples import CONVERSATION

    audio, truth = _conversation(tmp_path, CONVERSATION, music=True)
    turns = _diarize(audio)
    assert {t.speaker for t in turns} == {"S1", "S2"}
    assert _der(truth, turns) <= 0.10


def test_two_close_voices_over_a_loud_bed_stay_two_after_dsp_separation(tmp_path):
    """Residual music in separated vocals spreads each voice's windows: a fixed threshold found 3 speakers
    here (DER 35 %); the eigengap count keeps 2."""
    from lssd.backends.dsp_separator import DspSeparator
    from lssd.backends.vad import to_mono16k
    from lssd.media import SAMPLE_RATE, read_audio
    from lssd.samples import MEN_CONVERSATION, make_conversation_clip

    clip = make_conversation_clip(tmp_path / "men.mkv", lines=MEN_CONVERSATION, seed=1, background_db=-18.0)
    mix = read_audio(clip.speech, SAMPLE_RATE) + read_audio(clip.background, SAMPLE_RATE)
    vocals, _ = DspSeparator().separate(mix, SAMPLE_RATE)
    turns = _diarize(to_mono16k(vocals, SAMPLE_RATE))
    assert len({t.speaker for t in turns}) == 2
    assert _der([(a, b, w) for (a, b), w in zip(clip.spans, clip.speakers, strict=True)], turns) <= 0.10


THREE = ((0, "Did you see the boats come back before the storm?"), (1, "I did, they were late again tonight."),
         (2, "Well, I am going out anyway, the fish will not wait for us."),
         (0, "Take the small boat then, and come back before dark."), (2, "I always do."),
         (1, "Then nobody should go out until the wind drops."))


@pytest.mark.slow
@pytest.mark.parametrize("music", [False, True])
def test_three_generated_voices_are_found_with_der_under_10_percent(tmp_path, music):
    audio, truth = _conversation(tmp_path, THREE, music=music)
    turns = _diarize(audio)
    assert len({t.speaker for t in turns}) == 3
    assert _der(truth, turns) <= 0.10


@pytest.mark.shared_media
def test_the_real_two_speaker_conversation_has_two_speakers_and_der_under_15_percent(shared_media):
    import soundfile as sf

    wav = shared_media / "two_speakers.wav"
    if not wav.is_file():
        pytest.skip("two_speakers.wav not in the shared media")
    audio, sr = sf.read(wav, dtype="float32")
    assert sr == 16000
    reference = []
    for line in (shared_media / "two_speakers.rttm").read_text().splitlines():
        p = line.split()
        reference.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
    turns = _diarize(audio)
    assert len({t.speaker for t in turns}) == 2
    assert _der(reference, turns) <= 0.15
    fixed = _diarize(audio, Settings(speakers=3))
    assert len({t.speaker for t in fixed}) == 3  # --speakers overrides the estimate


@pytest.mark.shared_media
def test_jfk_is_one_speaker(shared_media):
    from lssd.backends.vad import to_mono16k
    from lssd.media import read_audio

    audio = read_audio(shared_media / "jfk.flac", 48000)
    assert {t.speaker for t in _diarize(to_mono16k(audio, 48000))} == {"S1"}


@pytest.mark.shared_media
def test_jfk_over_a_music_bed_through_the_dsp_separator_is_still_one_speaker(shared_media):
    from lssd.backends.dsp_separator import DspSeparator
    from lssd.backends.vad import to_mono16k
    from lssd.media import read_audio
    from lssd.samples import music_background

    speech = read_audio(shared_media / "jfk.flac", 48000)
    speech = speech * (10 ** (-18 / 20) / np.sqrt(np.mean(speech ** 2)))
    mix = speech + music_background(speech.shape[-1] / 48000, 48000, 0, -28.0)[:, :speech.shape[-1]]
    vocals, _ = DspSeparator().separate(mix, 48000)
    assert {t.speaker for t in _diarize(to_mono16k(vocals, 48000))} == {"S1"}
