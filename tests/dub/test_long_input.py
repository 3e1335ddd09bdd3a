"""Flat memory on long inputs (issue 10): work audio is decoded, read and written block by block, and the
block-wise results are the samples the whole-array code gave. Peak RSS on 10/60-minute inputs is measured
by benchmarks/long_input.py, not here."""

from __future__ import annotations

import subprocess
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from lssd import media, stages
from lssd.config import DubConfig
from lssd.dub import remux
from lssd.dub.context import BACKGROUND, MIX, ClipContext
from lssd.dub.workdir import Workdir
from lssd.languages import parse_langs
from lssd.media import (
    SAMPLE_RATE,
    audio_level,
    decode_audio,
    decode_audio_to_wav,
    open_wav,
    pad_or_trim,
    probe,
    read_audio,
    require_tool,
    resize_wav,
    write_audio,
)

MINUTES = 3


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """A 3-minute tiny-picture mp4 with a stereo AAC soundtrack (priming to trim on the timeline)."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    seconds = MINUTES * 60
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", f"color=c=gray:size=64x36:rate=5:duration={seconds}",
                    "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.05:sample_rate={SAMPLE_RATE}:duration={seconds}",
                    "-map", "0:v", "-map", "1:a", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-b:a", "64k", str(path)], check=True)
    return path


def test_a_soundtrack_is_decoded_onto_the_work_file_without_holding_it(long_video, tmp_path):
    dest = tmp_path / "mix.wav"
    whole_bytes = MINUTES * 60 * SAMPLE_RATE * 2 * 4
    tracemalloc.start()
    try:
        frames = decode_audio_to_wav(long_video, dest, stream=probe(long_video).audio[0].index, timeline=True)
        resize_wav(dest, frames + SAMPLE_RATE)
        audio_level(dest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < whole_bytes / 4, f"decoding held {peak / 1e6:.0f} MB for a {whole_bytes / 1e6:.0f} MB soundtrack"
    expected = pad_or_trim(decode_audio(long_video, timeline=True), frames + SAMPLE_RATE)
    assert np.array_equal(read_audio(dest), expected)


def test_work_audio_is_written_in_blocks_and_read_as_a_read_only_map(tmp_path, monkeypatch):
    audio = np.random.default_rng(0).standard_normal((2, 5 * SAMPLE_RATE)).astype(np.float32)
    monkeypatch.setattr(media, "BLOCK", SAMPLE_RATE + 7)
    write_audio(tmp_path / "a.wav", audio)
    sf.write(tmp_path / "whole.wav", audio.T, SAMPLE_RATE, subtype="FLOAT", format="WAV")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()
    mapped = open_wav(tmp_path / "a.wav")
    assert isinstance(mapped.base, np.memmap) and not mapped.flags.writeable
    assert np.array_equal(mapped, audio)
    sf.write(tmp_path / "pcm.wav", audio.T, SAMPLE_RATE, subtype="PCM_16")  # not a work file: read whole
    assert np.array_equal(open_wav(tmp_path / "pcm.wav"), read_audio(tmp_path / "pcm.wav"))


def test_resizing_a_wav_pads_and_trims_like_pad_or_trim(tmp_path):
    audio = np.random.default_rng(1).standard_normal((2, 1000)).astype(np.float32)
    for n in (10, 1000, 2500):
        write_audio(tmp_path / "a.wav", audio)
        resize_wav(tmp_path / "a.wav", n)
        assert np.array_equal(read_audio(tmp_path / "a.wav"), pad_or_trim(audio, n))


def test_a_dub_track_built_in_blocks_is_the_whole_track(dubbed_sample, monkeypatch, tmp_path):
    """Blocks much shorter than a segment, so segments straddle block edges, give the same samples as
    background + segments summed over the whole track."""
    clip = dubbed_sample.clip
    cfg = DubConfig(langs=parse_langs("es"), background=clip.background)
    ctx = ClipContext(input_path=clip.path, info=probe(clip.path), cfg=cfg, workdir=Workdir(dubbed_sample.workdir),
                      targets=parse_langs("es"))
    assert isinstance(ctx.mix.base, np.memmap)
    lang = ctx.targets[0]
    expected = read_audio(ctx.path(stages.SEPARATE, BACKGROUND))
    for p in ctx.alignment(lang)["placements"]:
        seg = ctx.segment_audio(stages.MATCH_LOUDNESS, lang, p["id"])
        start = round(p["start"] * ctx.sr)
        expected[:, start : start + seg.shape[0]] += seg[None, : max(0, expected.shape[1] - start)]
    expected = remux.soft_limit(expected)
    monkeypatch.setattr(remux, "BLOCK", 4801)
    remux.write_dub_track(ctx, lang, tmp_path / "spa.wav")
    assert np.array_equal(read_audio(tmp_path / "spa.wav"), expected)
    assert read_audio(ctx.path(stages.INPUT, MIX)).shape == expected.shape


def test_mono_16k_in_blocks_is_the_one_shot_resample(tmp_path, monkeypatch):
    from lssd.backends import vad
    from lssd.media import resample

    audio = np.random.default_rng(2).standard_normal((2, 7 * SAMPLE_RATE + 123)).astype(np.float32) * 0.1
    write_audio(tmp_path / "a.wav", audio)
    monkeypatch.setattr("lssd.dsp.mono16k.BLOCK", SAMPLE_RATE + 7)  # several blocks, edges off the resampling ratio
    expected = resample(audio.mean(axis=0), SAMPLE_RATE, vad.VAD_SR)
    mapped = open_wav(tmp_path / "a.wav")
    assert np.array_equal(vad.to_mono16k(mapped, SAMPLE_RATE), expected)
    blocks = list(media.array_blocks(mapped, SAMPLE_RATE + 7))  # read from the file, not through the map
    assert not any(isinstance(b, np.memmap) or isinstance(b.base, np.memmap) for b in blocks)
    assert np.array_equal(np.concatenate(blocks, axis=1), audio)
    assert np.array_equal(vad.to_mono16k(audio[0], SAMPLE_RATE), resample(audio[0], SAMPLE_RATE, vad.VAD_SR))


def _mapped_rss_kib(path) -> int:
    """Resident KiB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        if line[:1].isalnum() and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_passes_over_a_mapped_track_leave_none_of_it_resident(tmp_path):
    """The dsp separator's VAD, finiteness check and blocks, and the clip's original-speech reads, go
    through the file: a map keeps every page it touched, which for an hour of stereo is 1.4 GB."""
    from lssd.backends.dsp_separator import DspSeparator

    rng = np.random.default_rng(3)
    audio = (rng.standard_normal((2, 40 * SAMPLE_RATE)) * 0.05).astype(np.float32)
    path = tmp_path / "mix.wav"
    write_audio(path, audio)
    mapped = open_wav(path)
    assert np.array_equal(media.read_span(mapped, -5, 100), audio[:, :100])  # clipped to the signal: a negative start is 0, not counted from the end
    assert np.array_equal(media.read_span(mapped, SAMPLE_RATE, 2 * SAMPLE_RATE), audio[:, SAMPLE_RATE:2 * SAMPLE_RATE])
    got = []
    DspSeparator().separate_to(mapped, SAMPLE_RATE, got.append, lambda block: None)
    assert sum(b.shape[1] for b in got) == audio.shape[1]
    assert _mapped_rss_kib(path) < 1024  # of 15 000 KiB: nothing but the header page
    np.asarray(mapped[:, :]).sum()  # the check can fail: reading through the map makes it resident
    assert _mapped_rss_kib(path) > 10_000


def test_a_track_scan_and_gathered_ranges_are_those_of_the_whole_16k_track(tmp_path, monkeypatch):
    from lssd import langid
    from lssd.backends import vad

    rng = np.random.default_rng(3)
    n = 9 * SAMPLE_RATE + 321
    audio = (rng.standard_normal((2, n)) * np.linspace(0.01, 0.3, n)).astype(np.float32)
    write_audio(tmp_path / "a.wav", audio)
    monkeypatch.setattr("lssd.dsp.mono16k.BLOCK", SAMPLE_RATE + 7)  # several blocks, ranges across their edges
    mapped = open_wav(tmp_path / "a.wav")
    whole = vad.to_mono16k(audio, SAMPLE_RATE)
    scan = vad.scan_track(mapped, SAMPLE_RATE)
    assert scan.n == whole.size
    assert np.allclose(scan.energy, langid.frame_energy(whole), rtol=1e-9)
    assert np.array_equal(scan.probs, vad.silero.load().probabilities([whole]))
    assert scan.spans() == vad.speech_spans(whole)
    loudest = whole[slice(*langid.loudest_span(scan.energy, scan.n, 3.0))]
    assert loudest.size == 3 * 16_000 and np.array_equal(loudest, langid.loudest_window(whole, 3.0))
    n = whole.size
    groups = [[(0, 100), (16_000, 40_000)], [], [(40_000, 40_000), (50_000, 90_001)], [(n - 10, n + 50)],
              [(n + 5, n + 9)]]
    got = list(vad.gather(mapped, SAMPLE_RATE, groups))
    padded = np.concatenate([whole, np.zeros(100, np.float32)])
    expected = [np.concatenate([np.zeros(0, np.float32), *(padded[a:b] for a, b in g)]) for g in groups]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert np.array_equal(g, e)
