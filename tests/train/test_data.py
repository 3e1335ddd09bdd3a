"""Decoding and augmentation: shapes, ranges, windows, the right language stream, masks, determinism."""

from __future__ import annotations

import json
import os
import subprocess

import librosa
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from lssd.errors import BadInputError
from lssd.train.augment import (AudioConfig, VideoConfig, frame_times, log_mel, mask_spectrogram,
                                normalise_video, video_clip, video_tensor)
from lssd.train.data import MediaReader, QuadrupletDataset, build_loader, collate_quadruplets
from lssd.train.index import read_index
from lssd.train.sampler import SampleKey, TitleBatchSampler
from lssd.train.toy import PILOT_HZ, shot_tone_hz

VIDEO = VideoConfig(num_frames=4, crop=64, short_side=(72, 96))
AUDIO = AudioConfig(sample_rate=16_000, n_mels=32)
AUDIO_FRAMES = 48_000 // 501 + 1  # 3 s at 16 kHz, hop 501, centred STFT


@pytest.fixture(scope="module")
def index(toy_dataset):
    return read_index(toy_dataset.index)


@pytest.fixture(scope="module")
def dataset(index):
    return QuadrupletDataset(index, "random", VIDEO, AUDIO, seed=0)


def row_of(index, title: str, shot_idx: int = 0) -> int:
    return int(index.index[(index["title_id"] == title) & (index["shot_idx"] == shot_idx)][0])


def pilot_bins(n_mels: int, sample_rate: int) -> dict[str, int]:
    centres = librosa.mel_frequencies(n_mels + 2, fmax=sample_rate / 2, htk=True)[1:-1]
    return {lang: int(np.argmin(np.abs(centres - hz))) for lang, hz in PILOT_HZ.items()}


def test_item_shapes_dtypes_and_ranges(dataset):
    item = dataset[dataset.key(0)]
    for name in ("v_p", "v_s"):
        v = item[name]
        assert v.shape == (4, 64, 64, 3) and v.dtype == torch.uint8  # frames; normalised on the trainer's device
        assert v.float().std() > 5  # real picture content, not a constant
    for name in ("a_p", "a_s"):
        a = item[name]
        assert a.shape == (2, 32, AUDIO_FRAMES) and a.dtype == torch.float32
        assert torch.isfinite(a).all() and a.min() >= -100.0 and a.max() < 80.0
        assert torch.equal(a[0], a[1])  # mono toy tracks duplicated to pseudo-stereo
    assert isinstance(item["title"], str) and isinstance(item["lang_s"], str)
    assert isinstance(item["shot"], int) and isinstance(item["title_idx"], int)


def test_configs_from_recipe_data_and_bad_values():
    cfg = VideoConfig(**{"crop": 64, "short_side": [72, 96], "mean": [0.5, 0.5, 0.5], "std": [0.25] * 3})
    assert cfg.short_side == (72, 96) and hash(cfg)  # YAML lists become tuples
    with pytest.raises(BadInputError, match="short_side"):
        VideoConfig(crop=224, short_side=(128, 160))
    with pytest.raises(BadInputError, match="channels"):
        AudioConfig(channels=3)


def test_paper_settings_shapes(index):
    item = QuadrupletDataset(index)[0]
    assert item["v_p"].shape == (16, 224, 224, 3) and item["a_p"].shape == (2, 96, 288)
    sep = QuadrupletDataset(index, video_cfg=None, audio_cfg=AudioConfig(sample_rate=44_100))[0]
    assert "v_p" not in sep and sep["a_s"].shape == (2, 96, 132_300 // 501 + 1)


def test_windows_and_frames_stay_inside_the_shot(index, dataset):
    for row in range(len(index)):
        start, end = index["shot_start"].iloc[row], index["shot_end"].iloc[row]
        for epoch in range(5):
            t_p, t_s = dataset.window_starts(row, np.random.default_rng([row, epoch]))
            for t in (t_p, t_s):
                assert start <= t <= end - 3.0 + 1e-9
                times = frame_times(t, 3.0, VideoConfig())
                assert times[0] == t and times[-1] < end and np.all(np.diff(times) > 0)
    starts = [dataset.window_starts(0, np.random.default_rng(s))[0] for s in range(50)]
    assert np.ptp(starts) > 1.0  # jittered, not always the same window


def test_frames_switch_exactly_at_a_cut(toy_dataset):
    cut = json.loads((toy_dataset.root / "toy_manifest.json").read_text())["titles"][0]["cuts"][0]
    reader = MediaReader(toy_dataset.root / "toy_000.dub.mkv")
    times = np.array([cut - 0.08, cut - 0.04, cut, cut + 0.04])  # frames -2, -1, 0, +1 at 25 fps
    a, b, c, d = (f.astype(float) for f in reader.frames(times, (90, 160)))
    same_shot = max(np.abs(b - a).mean(), np.abs(d - c).mean())
    assert np.abs(c - b).mean() > 5 * same_shot + 30  # the cut is between the 2nd and 3rd time


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_decoding_starts_no_threads(toy_dataset):
    """Loader workers are forked: a decoder or scaler thread pool inherited by one deadlocks it."""
    threads = len(os.listdir("/proc/self/task"))
    reader = MediaReader(toy_dataset.root / "toy_001.dub.mkv")
    for start in (1.0, 20.0, 8.0):
        reader.frames(frame_times(start, 3.0, VideoConfig()), (288, 512))
        reader.audio(1, start, 3.0, 48_000)
    assert len(os.listdir("/proc/self/task")) == threads


def test_audio_is_read_from_the_requested_language_stream(toy_dataset, index):
    reader = MediaReader(toy_dataset.root / "toy_000.dub.mkv")
    row = row_of(index, "toy_000.dub.mkv")
    streams = dict(zip(index["audio_languages"].iloc[row], index["audio_stream_index"].iloc[row]))
    for lang, stream in streams.items():
        wave = reader.audio(stream, 6.0, 2.0, 16_000)[0]
        spectrum = np.abs(np.fft.rfft(wave))
        freqs = np.fft.rfftfreq(wave.size, 1 / 16_000)
        energy = {k: spectrum[np.argmin(np.abs(freqs - hz))] for k, hz in PILOT_HZ.items()}
        assert max(energy, key=energy.get) == lang


def test_audio_stays_in_sync_with_video_at_a_cut(toy_dataset):
    """The background tone changes at each cut; find where it changes in the decoded audio."""
    titles = json.loads((toy_dataset.root / "toy_manifest.json").read_text())["titles"]
    reader = MediaReader(toy_dataset.root / "toy_000.dub.mkv")
    for k, cut in enumerate(titles[0]["cuts"]):
        wave = reader.audio(0, cut - 0.2, 0.4, 48_000)[0]
        t = np.arange(wave.size) / 48_000
        share = []
        for centre in np.arange(0.1, 0.3, 0.0025):  # 40 ms windows sliding across the cut
            seg = slice(int((centre - 0.02) * 48_000), int((centre + 0.02) * 48_000))
            e1, e2 = (abs(np.sum(wave[seg] * np.exp(-2j * np.pi * shot_tone_hz(0, s) * t[seg])))
                      for s in (k, k + 1))
            share.append(e2 / (e1 + e2))
        switch = 0.1 + 0.0025 * int(np.argmax(np.array(share) > 0.5)) - 0.2
        assert abs(switch) <= 0.01, (cut, switch)  # an AAC priming offset would be 21 ms


def test_a_p_and_a_s_speak_the_languages_of_the_key(index):
    dataset = QuadrupletDataset(index, "none", None, AUDIO, train=False)
    bins = pilot_bins(AUDIO.n_mels, AUDIO.sample_rate)
    row = row_of(index, "toy_000.dub.mkv", 1)
    item = dataset[SampleKey(row, "eng", "jpn", seed=1)]
    assert item["t_p"] == item["t_s"]  # eval: the same centred window, only the language differs
    level_p = item["a_p"][0].median(dim=-1).values
    level_s = item["a_s"][0].median(dim=-1).values
    assert level_p[bins["eng"]] - level_s[bins["eng"]] > 6.0
    assert level_s[bins["jpn"]] - level_p[bins["jpn"]] > 6.0
    with pytest.raises(BadInputError, match="no kor audio stream"):
        dataset[SampleKey(row, "eng", "kor", seed=1)]


def test_video_tensor_crops_and_normalises_per_channel():
    cfg = VideoConfig(crop=4, short_side=(4, 4), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    frames = [np.random.default_rng(t).integers(0, 256, (6, 7, 3), dtype=np.uint8) for t in range(3)]
    got = video_tensor(frames, 1, 2, cfg)
    clip = torch.from_numpy(np.stack(frames)[:, 1:5, 2:6]).permute(3, 0, 1, 2).float() / 255
    want = (clip - torch.tensor(cfg.mean).view(3, 1, 1, 1)) / torch.tensor(cfg.std).view(3, 1, 1, 1)
    assert got.shape == (3, 3, 4, 4) and got.dtype == torch.float32
    torch.testing.assert_close(got, want)
    clip = video_clip(frames, 1, 2, cfg)  # what the loaders yield; the trainer normalises on its device
    assert clip.shape == (3, 4, 4, 3) and clip.dtype == torch.uint8 and clip.is_contiguous()
    batch = normalise_video(torch.stack([clip, clip.flip(0)]), cfg)
    assert batch.shape == (2, 3, 3, 4, 4) and batch.is_contiguous() and torch.equal(batch[0], got)
    assert torch.equal(batch[1], got.flip(1))
    assert normalise_video(got, cfg) is got


def test_log_mel_matches_librosa_with_torchaudio_conventions():
    rng = np.random.default_rng(0)
    t = np.arange(48_000) / 48_000
    wave = np.stack([np.sin(2 * np.pi * 1000 * t), 0.1 * rng.standard_normal(t.size)]).astype(np.float32)
    reference = librosa.feature.melspectrogram(y=wave, sr=48_000, n_fft=1024, hop_length=501, n_mels=96,
                                               htk=True, norm=None, center=True, pad_mode="reflect")
    ours = log_mel(wave, AudioConfig())
    assert ours.shape == (2, 96, 48_000 // 501 + 1) and ours.dtype == np.float32
    want = 10 * np.log10(np.maximum(reference, 1e-10))
    # float32, as torch.stft: exact to 0.2 dB down to 100 dB under each channel's peak; below that is
    # the float32 noise floor (torch.stft's own spectrogram of this wave is 5 dB off there)
    peak = want.max(axis=(1, 2), keepdims=True)
    audible = want > peak - 100
    assert audible.mean() > 0.5
    np.testing.assert_allclose(ours[audible], want[audible], atol=0.2)
    assert np.all((ours < peak - 90) | audible)


def test_masks_cover_at_most_half_of_each_axis():
    cfg = AudioConfig(n_mels=96)
    spec = np.random.default_rng(0).standard_normal((2, 96, 288)).astype(np.float32)
    fill = float(spec.mean())
    widths_f, widths_t = [], []
    for seed in range(100):
        out, (f0, fw), (t0, tw) = mask_spectrogram(spec, np.random.default_rng(seed), cfg)
        masked = out == fill
        assert np.array_equal(masked[0], masked[1])  # one mask for both channels
        assert masked.sum() == 2 * (fw * 288 + tw * 96 - fw * tw)
        assert np.all(out[:, f0:f0 + fw] == fill) and np.all(out[..., t0:t0 + tw] == fill)
        widths_f.append(fw)
        widths_t.append(tw)
    assert max(widths_f) <= 48 and max(widths_t) <= 144
    assert max(widths_f) >= 40 and max(widths_t) >= 120 and min(widths_t) <= 15  # the full range is used
    none = AudioConfig(max_time_mask=0, max_freq_mask=0)
    assert np.array_equal(mask_spectrogram(spec, np.random.default_rng(0), none)[0], spec)


def test_items_are_deterministic_given_the_key(index, dataset):
    key = dataset.key(3, epoch=2)
    fresh = QuadrupletDataset(index, "random", VIDEO, AUDIO, seed=0)
    first, again = dataset[key], fresh[key]
    for name in ("v_p", "v_s", "a_p", "a_s"):
        assert torch.equal(first[name], again[name])
    other = dataset[key._replace(seed=key.seed + 1)]
    assert not torch.equal(first["v_p"], other["v_p"]) or first["t_p"] != other["t_p"]
    assert dataset.key(3, epoch=2) == key and dataset.key(3, epoch=3) != key


def test_collate_keeps_strings_and_stacks_tensors(dataset):
    batch = collate_quadruplets([dataset[dataset.key(i)] for i in (0, 5)])
    assert batch["v_p"].shape == (2, 4, 64, 64, 3) and batch["a_s"].shape == (2, 2, 32, AUDIO_FRAMES)
    assert isinstance(batch["title"], list) and len(batch["lang_p"]) == 2
    assert batch["title_idx"].dtype == torch.int64 and batch["t_p"].dtype == torch.float64


def test_loader_batches_follow_the_sampler_and_workers_reproduce_them(toy_dataset, index):
    kwargs = dict(batch_size=4, group_size=2, policy="round_robin:es,fr,ja", seed=3,
                  video_cfg=VIDEO, audio_cfg=AUDIO)
    loader = build_loader(toy_dataset.index, **kwargs)
    loader.set_epoch(1)
    assert len(loader) == len(index) // 4
    batches = list(loader)
    sampler = TitleBatchSampler(index, 4, 2, policy="round_robin:es,fr,ja", seed=3)
    sampler.set_epoch(1)
    keys = list(sampler)
    assert [b["shot"].tolist() for b in batches] == [[index["shot_id"].iloc[k.row] for k in ks]
                                                      for ks in keys]
    assert [b["lang_s"] for b in batches] == [[k.lang_s for k in ks] for ks in keys]
    for b in batches:
        assert b["v_p"].shape == (4, 4, 64, 64, 3)
        assert np.unique(b["title_idx"].numpy(), return_counts=True)[1].tolist() == [2, 2]
    worker_loader = build_loader(index, num_workers=1, **kwargs)
    worker_loader.set_epoch(1, start_batch=1)
    resumed = list(worker_loader)
    assert len(resumed) == len(batches) - 1
    for a, b in zip(resumed, batches[1:]):
        assert torch.equal(a["v_s"], b["v_s"]) and torch.equal(a["a_p"], b["a_p"])


def test_packed_stereo_and_surround_tracks_become_two_channels_at_the_target_rate(tmp_path):
    """Real movies carry 5.1 and PCM tracks at 44.1 kHz: stereo is kept, 5.1 downmixed, rate fixed."""
    path = tmp_path / "channels.mkv"
    graph = ("[1:a][2:a]join=inputs=2:channel_layout=stereo[st];[1:a]asplit=6[a][b][c][d][e][f];"
             "[a][b][c][d][e][f]join=inputs=6:channel_layout=5.1[sur]")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=4", "-f", "lavfi", "-i", "sine=f=440:d=4",
                    "-f", "lavfi", "-i", "sine=f=880:d=4", "-filter_complex", graph,
                    "-map", "0:v", "-map", "[st]", "-map", "[sur]", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a:0", "pcm_s16le", "-c:a:1", "aac", "-ar", "44100", str(path)], check=True)
    reader = MediaReader(path)
    freqs = np.fft.rfftfreq(96_000, 1 / 48_000)
    for stream, expected in ((0, [440.0, 880.0]), (1, [440.0, 440.0])):
        wave = reader.audio(stream, 0.5, 2.0, 48_000)
        assert wave.shape == (2, 96_000) and wave.dtype == np.float32
        assert [freqs[np.abs(np.fft.rfft(ch)).argmax()] for ch in wave] == expected
        assert 0.05 < np.abs(wave).max() <= 1.0


def test_without_a_secondary_instance_an_item_is_one_video_audio_pair(index):
    """App. B.3 SEP: "There is no secondary audio here"; nothing of a second instance is decoded."""
    pairs = QuadrupletDataset(index, "none", VIDEO, AUDIO, seed=3, secondary=False)
    full = QuadrupletDataset(index, "none", VIDEO, AUDIO, seed=3)
    item, reference = pairs[0], full[0]
    assert {"v_p", "a_p"} <= item.keys() and not {"v_s", "a_s", "lang_s", "t_s"} & item.keys()
    assert torch.equal(item["v_p"], reference["v_p"]) and torch.equal(item["a_p"], reference["a_p"])


class _CollatedInWorker(IterableDataset):
    def __iter__(self):
        batch = collate_quadruplets([{"v_p": torch.zeros(4, 8, 8, 3, dtype=torch.uint8), "t_p": 0.5}] * 2)
        yield {"shared_in_worker": batch["v_p"].is_shared(), "v_p": batch["v_p"]}


def test_a_worker_collates_frames_straight_into_shared_memory():
    """No second copy of a batch's frames on its way out of a loader worker."""
    (batch,) = DataLoader(_CollatedInWorker(), batch_size=None, num_workers=1)
    assert batch["shared_in_worker"] and batch["v_p"].shape == (2, 4, 8, 8, 3)
