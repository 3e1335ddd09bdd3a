"""Shard frames decoded on the trainer's device (here the CPU, through the same torchvision call a GPU
takes): the same draws and audio as the CPU path, pixels within a level, a run that trains on them,
and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lssd.errors import BadInputError
from lssd.train.augment import AudioConfig, VideoConfig
from lssd.train.device_decode import EncodedClips, decode_clips, resolve_decode
from lssd.train.loop import train
from lssd.train.recipes import load_recipe
from lssd.train.shards import ShardSettings, build_shards, read_samples
from lssd.train.stream import ShardStream

VIDEO, AUDIO = VideoConfig(num_frames=4, crop=32, short_side=(36, 40)), AudioConfig()


@pytest.fixture(scope="module")
def shard_set(toy_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "set"
    build_shards(toy_dataset.index, out, ShardSettings(short_side=40, shots_per_shard=3))
    return out


def _batches(shard_set: Path, decode: str, workers: int = 0) -> list[dict]:
    table, _ = read_samples(shard_set)
    stream = ShardStream(str(shard_set), table, batch_size=4, group_size=2, workers=workers, seed=5,
                         video_cfg=VIDEO, audio_cfg=AUDIO, window=1.0, decode=decode)
    return list(DataLoader(stream, batch_size=None, num_workers=workers))


def test_device_decode_gives_the_cpu_paths_clips_and_the_same_draws(shard_set: Path) -> None:
    cpu, shipped = _batches(shard_set, "cpu"), _batches(shard_set, "device", workers=1)
    assert len(cpu) == len(shipped) > 1
    for a, b in zip(cpu, shipped):
        assert a["shot"].tolist() == b["shot"].tolist() and a["lang_s"] == b["lang_s"]
        assert torch.equal(a["t_s"], b["t_s"]) and torch.equal(a["a_s"], b["a_s"])
        for key in ("v_p", "v_s"):
            assert isinstance(b[key], EncodedClips) and len(b[key]) == 4
            clips = decode_clips(b[key], "cpu")
            assert clips.shape == a[key].shape == (4, 4, 32, 32, 3) and clips.dtype == torch.uint8
            diff = (clips.int() - a[key].int()).abs()
            assert diff.max() <= 2 and diff.float().mean() < 0.05  # bilinear rounding only
            assert a[key].float().std() > 5  # real picture content on both sides


def test_warps_are_opencvs_for_an_offset_crop_a_held_frame_and_mixed_sizes() -> None:
    """Scale 0.75, a crop shifted by (3, 5), a frame shown twice, and a clip of another source size in
    the same batch: decode_clips against cv2.warpAffine of the decoded frames."""
    import cv2

    rng = np.random.default_rng(0)

    def frame(h: int, w: int) -> np.ndarray:
        return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)

    def jpeg(f: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

    def warp(s: float, top: int, left: int) -> np.ndarray:
        return np.array([[s, 0, 0.5 * s - 0.5 - left], [0, s, 0.5 * s - 0.5 - top]])

    def opencv(jpegs: list[bytes], shown: list[int], w: np.ndarray) -> np.ndarray:
        decoded = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR_RGB) for j in jpegs]
        return np.stack([cv2.warpAffine(decoded[k], w, (16, 16), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE) for k in shown])

    big, small = [jpeg(frame(40, 56)) for _ in range(2)], [jpeg(frame(24, 30)) for _ in range(2)]
    cases = [(big, [0, 1, 1], warp(0.75, 3, 5)), (small, [1, 0, 0], warp(0.9, 2, 4)),
             (big, [1, 1, 0], warp(0.8, 1, 2)), (big[::-1], [1, 0, 0], warp(0.75, 3, 5))]
    got = decode_clips(EncodedClips.collate([EncodedClips.of_clip(*case, 16) for case in cases]), "cpu")
    assert got.shape == (4, 3, 16, 16, 3) and got.dtype == torch.uint8
    for clip, case in zip(got, cases):
        assert np.abs(clip.numpy().astype(int) - opencv(*case)).max() <= 2
    assert torch.equal(got[0], got[3])  # the last clip lists the first's frames in the other order


def test_a_tiny_run_trains_on_device_decoded_shards(shard_set: Path, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    recipe = load_recipe("tiny", ["optim.steps=2", "optim.warmup_steps=1", "data.batch_size=4",
                                  "data.group_size=2", "data.decode=device", "train.log_every=1"])
    losses: list[float] = []
    train(recipe, None, tmp_path / "run", shards=shard_set, progress=False, device="cpu",
          on_step=lambda step, terms: losses.append(terms.total.item()))
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_decode_choices_and_refusals() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_decode("auto", cuda, shards=True) == "device"
    assert resolve_decode("auto", cpu, shards=True) == resolve_decode("auto", cuda, shards=False) == "cpu"
    assert resolve_decode("device", cpu, shards=True) == "device"
    with pytest.raises(BadInputError, match="needs --shards"):
        resolve_decode("device", cuda, shards=False)
    with pytest.raises(BadInputError, match="data.decode must be auto, cpu or device"):
        load_recipe("tiny", ["data.decode=gpu"])


def test_a_damaged_frame_is_one_sentence_on_either_path(shard_set: Path) -> None:
    import tarfile

    from lssd.train.stream import decode_sample

    with tarfile.open(sorted(shard_set.glob("shard-*.tar"))[0]) as tar:
        members = {}
        for member in tar:
            key, _, ext = member.name.partition(".")
            members.setdefault(key, {})[ext] = tar.extractfile(member).read()
    sample = next(iter(members.values()))
    sample["mjpeg"] = bytes(len(sample["mjpeg"]))  # zeros where the JPEGs were
    tracks = {lang: i for i, lang in enumerate(json.loads(sample["json"])["audio_languages"])}
    lang = next(iter(tracks))
    with pytest.raises(BadInputError, match="not a JPEG that decodes: rebuild the shards"):
        decode_sample(sample, tracks, lang, lang, 0, video_cfg=VIDEO, audio_cfg=None, window=1.0)
    item = decode_sample(sample, tracks, lang, lang, 0, video_cfg=VIDEO, audio_cfg=None, window=1.0,
                         decode="device")
    with pytest.raises(BadInputError, match="does not decode on cpu .*rebuild the shards"):
        decode_clips(EncodedClips.collate([item["v_p"]]), "cpu")
