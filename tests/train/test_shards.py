"""Shards hold every track of every shot and resume a killed build; the stream covers an epoch exactly
once across ranks and workers, forms the index loader's title groups and dub-policy draws, and a
tiny run on shards resumes mid-epoch with the uninterrupted run's losses."""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from lssd.errors import BadInputError
from lssd.train import shards as shards_module
from lssd.train.augment import AudioConfig, VideoConfig
from lssd.train.index import read_index
from lssd.train.loop import train
from lssd.train.recipes import load_recipe
from lssd.train.sampler import TitleBatchSampler
from lssd.train.shards import SAMPLES, STATS, ShardSettings, build_shards, read_samples
from lssd.train.stream import ShardStream, epoch_order, worker_plan
from lssd.train.toy import PILOT_HZ

SMALL = ShardSettings(short_side=40, shots_per_shard=3)  # the tiny recipe: short side 36-40, 48 kHz


@pytest.fixture(scope="module")
def shard_set(toy_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "set"
    build_shards(toy_dataset.index, out, SMALL)
    return out


def _samples(tar: Path) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    with tarfile.open(tar) as t:
        for member in t:
            key, _, ext = member.name.partition(".")
            out.setdefault(key, {})[ext] = t.extractfile(member).read()
    return out


def _pilot(wave: np.ndarray, rate: int) -> str:
    """The toy language whose pilot tone is strongest in the track."""
    spectrum = np.abs(np.fft.rfft(wave))
    freqs = np.fft.rfftfreq(len(wave), 1 / rate)
    return max(PILOT_HZ, key=lambda lang: spectrum[np.abs(freqs - PILOT_HZ[lang]) < 3].max())


def test_shards_hold_every_track_of_every_shot(toy_dataset, shard_set: Path) -> None:
    index = read_index(toy_dataset.index)
    table, meta = read_samples(shard_set)
    assert meta["settings"]["sample_rate"] == SMALL.sample_rate
    assert sorted(table["shot_id"]) == sorted(index["shot_id"])
    seen = {}
    for tar in sorted(shard_set.glob("shard-*.tar")):
        for key, sample in _samples(tar).items():
            info = json.loads(sample["json"])
            row = index.set_index("shot_id").loc[info["shot_id"]]
            assert info["audio_languages"] == list(row["audio_languages"])
            assert info["track_kinds"] == list(row["track_kinds"])
            assert info["source"]["media_path"] == row["media_path"]
            length = info["shot_end"] - info["shot_start"]
            assert info["frames"] == int(np.ceil(length * 25 - 1e-6)) == len(info["frame_offsets"]) - 1
            assert len(sample["mjpeg"]) == info["frame_offsets"][-1] and sample["mjpeg"][:2] == b"\xff\xd8"
            assert {k for k in sample if k.startswith("a")} == {f"a{i}.wav" for i in range(len(row["audio_languages"]))}
            for i, lang in enumerate(info["audio_languages"]):
                wave, rate = sf.read(io.BytesIO(sample[f"a{i}.wav"]), always_2d=True)
                assert rate == SMALL.sample_rate and abs(len(wave) - length * rate) <= 1
                assert _pilot(wave.mean(axis=1), rate) == lang  # track i is that language's audio
            seen[info["shot_id"]] = tar.name
    assert sorted(seen) == sorted(index["shot_id"])
    # a title's shots are in one shard unless the title is larger than a shard
    for title, group in table.groupby("title_id"):
        assert group["shard"].nunique() == -(-len(group) // SMALL.shots_per_shard)
    stats = json.loads((shard_set / STATS).read_text())
    assert stats["shots"] == len(index) and stats["titles"] == index["title_id"].nunique()
    assert stats["hours"] == pytest.approx((index["shot_end"] - index["shot_start"]).sum() / 3600, abs=1e-6)
    assert sum(stats["tracks_per_kind"].values()) == sum(map(len, index["track_kinds"]))


def test_a_killed_build_resumes_without_redoing_finished_shards(toy_dataset, shard_set: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = shards_module.encode_shot, []

    def dies_in_the_third_shard(row, settings):
        calls.append(row["shot_id"])
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real(row, settings)

    monkeypatch.setattr(shards_module, "encode_shot", dies_in_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        build_shards(toy_dataset.index, tmp_path / "set", SMALL)
    finished = sorted((tmp_path / "set").glob("shard-*.json"))
    assert [p.name for p in finished] == ["shard-000000.json", "shard-000001.json"]
    assert not (tmp_path / "set" / SAMPLES).exists() and not list((tmp_path / "set").glob(".*tmp*"))
    kept = sum(len(json.loads(p.read_text())["shots"]) for p in finished)
    calls.clear()
    monkeypatch.setattr(shards_module, "encode_shot", lambda row, settings: calls.append(1) or real(row, settings))
    stats = build_shards(toy_dataset.index, tmp_path / "set", SMALL)
    assert len(calls) == stats["shots"] - kept > 0  # the finished shards were kept, not re-encoded
    for tar in shard_set.glob("shard-*.tar"):  # and every shard is byte for byte the one-go build's
        assert (tmp_path / "set" / tar.name).read_bytes() == tar.read_bytes()


def _table(titles: list[int], languages: list[list[str]] | None = None, per_shard: int = 10) -> pd.DataFrame:
    """A sample table without tars: ``titles[t]`` shots of title t, shards of ``per_shard``."""
    rows = []
    for t, n in enumerate(titles):
        for k in range(n):
            rows.append({"shot_id": len(rows), "title_id": f"t{t:03d}", "title_idx": t,
                         "audio_languages": (languages or [["eng", "spa", "fra"]])[t % len(languages or [0])],
                         "original_language": "eng"})
            rows[-1]["audio_stream_index"] = list(range(len(rows[-1]["audio_languages"])))
    df = pd.DataFrame(rows)
    df["shard"] = np.arange(len(df)) // per_shard
    df["position"] = np.arange(len(df)) % per_shard
    return df


def _stream(df: pd.DataFrame, **kw) -> ShardStream:
    return ShardStream("unused", df, video_cfg=None, audio_cfg=None, **kw)


@pytest.mark.parametrize("world, workers, accum", [(2, 2, 1), (2, 3, 2), (1, 1, 1)])
def test_an_epoch_is_every_sample_once_across_ranks_and_workers(world: int, workers: int, accum: int) -> None:
    df = _table([7, 3, 12, 5, 9, 4, 8, 16])  # 64 samples
    seen: list[int] = []
    for rank in range(world):
        stream = _stream(df, batch_size=4, group_size=2, rank=rank, world_size=world, workers=workers, accum=accum)
        batches = [stream.plan(w) for w in range(workers)]
        assert sum(map(len, batches)) == stream.steps_per_epoch * accum
        seen += [s.row for plan in batches for batch in plan for s in batch]
    assert sorted(seen) == list(range(len(df)))  # 64 = 8 steps x 2 ranks x 4: nothing left over
    odd = _table([7, 3, 12, 5, 9, 4, 8, 19])  # 67: three sit this epoch out
    rows = [s.row for r in range(2) for w in range(2) for b in _stream(
        odd, batch_size=4, group_size=2, rank=r, world_size=2, workers=2).plan(w) for s in b]
    assert len(rows) == len(set(rows)) == 64
    order = epoch_order(odd["shard"].to_numpy(), odd["position"].to_numpy(), 0, 0)
    assert set(rows) == set(order[:64].tolist())


def test_resuming_mid_epoch_gives_the_remaining_batches() -> None:
    df = _table([7, 3, 12, 5, 9, 4, 8, 16])
    whole = _stream(df, batch_size=4, group_size=2, workers=2)
    plans = [whole.plan(w) for w in range(2)]
    interleaved = [plans[m % 2][m // 2] for m in range(whole.steps_per_epoch)]
    order = epoch_order(df["shard"].to_numpy(), df["position"].to_numpy(), 0, 0)
    again = worker_plan(order, pd.factorize(df["title_id"])[0], batch_size=4, group_size=2, accum=1,
                        steps=whole.steps_per_epoch, rank=0, world_size=1, worker=1, workers=2,
                        streams=whole.streams, seed=0, epoch=0)
    assert again == plans[1]  # a pure function of (seed, epoch, rank, worker)
    assert [s.row for s in interleaved[5]] != [s.row for s in interleaved[4]]
    other_epoch = _stream(df, batch_size=4, group_size=2, workers=2)
    other_epoch.set_epoch(1)
    assert other_epoch.plan(0) != plans[0]


def _title_shares(batches: list[list[str]]) -> list[float]:
    return [max(Counter(b).values()) / len(b) for b in batches]


LANGS = [["eng", "spa", "fra", "jpn"], ["eng", "spa"], ["eng"], ["eng", "jpn", "fra"]]


@pytest.mark.parametrize("batch, group", [(16, 4), (64, 8)])
def test_titles_of_uneven_size_still_give_the_index_loaders_title_fraction(batch: int, group: int) -> None:
    df = _table([5, 9, 16, 30, 3, 12, 7, 20] * 12, LANGS, per_shard=32)  # 1224 shots of 96 titles
    shares = {}
    for name, loader in (("index", TitleBatchSampler(df, batch, group, seed=3)),
                         ("stream", _stream(df, batch_size=batch, group_size=group, seed=3))):
        shares[name] = []
        for epoch in range(4):
            loader.set_epoch(epoch)
            keys = list(loader) if name == "index" else [[loader.key(s) for s in b] for b in loader.plan(0)]
            shares[name] += _title_shares([[df["title_id"][k.row] for k in b] for b in keys])
    assert shares["index"] == [group / batch] * len(shares["index"])
    assert np.mean(np.isclose(shares["stream"], group / batch)) >= 0.9  # the last batches of an epoch aside
    assert np.mean(shares["stream"]) == pytest.approx(group / batch, abs=0.01)


def test_title_groups_and_dub_policy_match_the_index_loader() -> None:
    langs = LANGS
    df = _table([16] * 48, langs, per_shard=32)  # 768 shots of 48 titles
    cycle = ["spa", "fra", "jpn"]
    for policy in ("random", "fixed:spa", "round_robin:spa,fra,jpn", "none"):
        index = TitleBatchSampler(df, 16, 4, policy=policy, seed=3)
        stream = _stream(df, batch_size=16, group_size=4, policy=policy, seed=3)
        assert index.steps_per_epoch == stream.steps_per_epoch
        stats = {}
        for name, loader in (("index", index), ("stream", stream)):
            keys = []
            for epoch in range(4):
                loader.set_epoch(epoch)
                keys += list(loader) if loader is index else [[stream.key(s) for s in b] for b in stream.plan(0)]
            # a quarter of each batch from one title: 4 titles a batch, the hard negatives
            assert _title_shares([[df["title_id"][k.row] for k in b] for b in keys]) == [0.25] * len(keys)
            flat = [k for b in keys for k in b]
            assert all(k.lang_p == "eng" for k in flat)
            if policy.startswith("round_robin"):  # one secondary language per step where the title has it
                for step, batch in enumerate(keys):
                    wanted = cycle[step % 3]
                    assert all(k.lang_s == wanted for k in batch if wanted in langs[df["title_idx"][k.row] % 4])
            # P(a_s language | the title's languages), per language set
            stats[name] = {(tuple(have), lang): np.mean([k.lang_s == lang for k in flat
                                                          if langs[df["title_idx"][k.row] % 4] == have])
                           for have in langs for lang in have}
        for stat, value in stats["index"].items():
            assert stats["stream"][stat] == pytest.approx(value, abs=0.08), (policy, stat)
            if value in (0.0, 1.0):  # what the policy decides, not a draw
                assert stats["stream"][stat] == value, (policy, stat)


def test_the_stream_decodes_quadruplets_in_loader_workers(toy_dataset, shard_set: Path) -> None:
    """Two ranks x two workers through a DataLoader: the decoded batches hold every epoch sample once."""
    table, _ = read_samples(shard_set)
    video, audio = VideoConfig(num_frames=4, crop=32, short_side=(36, 40)), AudioConfig()
    shots = []
    for rank in range(2):
        stream = ShardStream(str(shard_set), table, batch_size=2, group_size=1, rank=rank, world_size=2,
                             workers=2, video_cfg=video, audio_cfg=audio, window=1.0)
        batches = list(DataLoader(stream, batch_size=None, num_workers=2))
        assert len(batches) == stream.steps_per_epoch
        for b in batches:
            assert b["v_p"].shape == (2, 4, 32, 32, 3) and b["a_s"].shape[:2] == (2, 2)
            assert b["v_p"].dtype == torch.uint8 and b["v_p"].float().std() > 5  # picture content, not a constant
            shots += b["shot"].tolist()
    assert len(shots) == len(set(shots)) == 2 * 2 * (len(table) // 4)
    with pytest.raises(BadInputError, match="fewer than one global batch"):
        ShardStream(str(shard_set), table, batch_size=len(table), world_size=2)


def test_reading_a_local_shard_in_place_gives_the_streamed_samples_quadruplets(shard_set: Path) -> None:
    """Local shards are read range by range (the frames and audio windows a quadruplet needs); a URL's
    stream reads whole samples: the same quadruplets, byte for byte."""
    from lssd.train.stream import _LocalShards, _TarCursor, decode_sample

    table, _ = read_samples(shard_set)
    video, audio = VideoConfig(num_frames=4, crop=32, short_side=(36, 40)), AudioConfig()
    local, streamed = _LocalShards(str(shard_set)), _TarCursor(str(shard_set))  # what URLs get
    try:
        for row in range(min(len(table), 6)):
            shard, position = int(table["shard"][row]), int(table["position"][row])
            tracks = dict(zip(table["audio_languages"][row], table["audio_stream_index"][row]))
            lang_s = table["audio_languages"][row][-1]
            a, b = (decode_sample(reader.get(shard, position), tracks, "eng", lang_s, seed=row, video_cfg=video,
                                  audio_cfg=audio, window=1.0) for reader in (local, streamed))
            assert a.keys() == b.keys() and a["shot"] == int(table["shot_id"][row])
            for key in ("v_p", "v_s", "a_p", "a_s"):
                assert torch.equal(a[key], b[key]), (row, key)
    finally:
        local.close()
        streamed.close()
    with pytest.raises(BadInputError, match="ends before sample"):
        _LocalShards(str(shard_set)).get(0, SMALL.shots_per_shard + 1)


def test_tiny_run_on_shards_resumes_mid_epoch(shard_set: Path, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    shard_dir = shard_set
    common = ["optim.steps=4", "optim.warmup_steps=1", "data.batch_size=4", "data.group_size=2",
              "train.ckpt_every=2", "train.log_every=1"]
    recipe = load_recipe("tiny", common)
    losses: list[float] = []
    train(recipe, None, tmp_path / "whole", shards=shard_dir, progress=False,
          on_step=lambda step, terms: losses.append(terms.total.item()))
    assert len(losses) == 4 and len(read_samples(shard_dir)[0]) // 4 == 3  # step 2 is mid-epoch

    def crash(step: int, terms) -> None:
        if step == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train(recipe, None, tmp_path / "cut", shards=shard_dir, progress=False, on_step=crash)
    resumed: list[float] = []
    train(recipe, None, tmp_path / "cut", shards=shard_dir, progress=False, resume=True,
          on_step=lambda step, terms: resumed.append(terms.total.item()))
    assert resumed == pytest.approx(losses[2:], rel=1e-6)


def _ddp_rank(rank: int, port: int, shards: str, out: str) -> None:
    """One of two gloo ranks of a real run on shards (torchrun's environment); records its shots."""
    import os

    from lssd.train import loop

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    seen: list[list[int]] = []
    step = loop.train_step

    def recording(run, micro_batches):
        seen.append([shot for b in micro_batches for shot in b["shot"].tolist()])
        return step(run, micro_batches)

    loop.train_step = recording
    recipe = load_recipe("tiny", ["data.batch_size=2", "data.group_size=1", "optim.steps=6",
                                  "optim.warmup_steps=1", "train.ckpt_every=100", "train.log_every=100"])
    train(recipe, None, Path(out) / "run", shards=shards, progress=False, device="cpu")
    Path(out, f"{rank}.json").write_text(json.dumps(seen))


def test_two_gloo_ranks_see_every_sample_of_an_epoch_once(shard_set: Path, tmp_path: Path) -> None:
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_rank, args=(port, str(shard_set), str(tmp_path)), nprocs=2, join=True)
    table, _ = read_samples(shard_set)
    per_epoch = len(table) // 4  # steps of 2 ranks x 2 samples
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    assert [len(steps) for steps in ranks] == [6, 6] and per_epoch < 6  # more than one epoch
    for epoch in range(6 // per_epoch):
        steps = slice(epoch * per_epoch, (epoch + 1) * per_epoch)
        shots = [shot for r in ranks for batch in r[steps] for shot in batch]
        assert len(shots) == len(set(shots)) == 4 * per_epoch  # once each, across the two ranks
        assert set(shots) <= set(table["shot_id"])


def test_control_tracks_are_stored_and_taken_as_a_s(toy_dataset, tmp_path: Path) -> None:
    from lssd.train.controls import use_control

    index = read_index(toy_dataset.index)
    index = index[index["title_id"] == index["title_id"][0]].reset_index(drop=True)
    index["control_tracks"] = [["resynth"]] * len(index)  # a control track: here the last stream again
    index["control_stream_index"] = [[langs[-1]] for langs in index["audio_stream_index"]]
    build_shards(index, tmp_path / "set", SMALL)
    table, _ = read_samples(tmp_path / "set")
    n = len(index["audio_languages"][0])
    assert table["control_stream_index"].tolist() == [[n]] * len(index)
    sample = next(iter(_samples(next((tmp_path / "set").glob("shard-*.tar"))).values()))
    assert f"a{n}.wav" in sample and sample[f"a{n}.wav"] == sample[f"a{n - 1}.wav"]
    controlled = use_control(table, "resynth")
    stream = ShardStream(str(tmp_path / "set"), controlled, batch_size=2, group_size=1,
                         video_cfg=None, audio_cfg=AudioConfig(), window=1.0)
    batch = next(iter(stream))
    assert batch["lang_s"] == ["control:resynth"] * 2 and batch["a_s"].shape[0] == 2
