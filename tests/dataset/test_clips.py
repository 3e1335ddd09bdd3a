"""Which clips a build covers: the real LVU split-file format at full size, subsets and shards."""

from __future__ import annotations

import random
import shutil
import string
from pathlib import Path

import pytest

from lssd import lvu
from lssd.cli import main
from lssd.dataset.clips import folder_media, in_shard, parse_shard, select
from lssd.errors import BadInputError

N_IDS, N_DASH, N_TITLES = 9_996, 161, 2_797
UNKNOWN = "\\N"  # how writer marks an unknown class


def _ids(rng: random.Random) -> list[str]:
    chars = string.ascii_letters + string.digits + "_-"
    out: set[str] = set()
    while len(out) < N_DASH:
        out.add("-" + "".join(rng.choice(chars) for _ in range(10)))
    while len(out) < N_IDS:
        first = rng.choice(string.ascii_letters + string.digits + "_")
        out.add(first + "".join(rng.choice(chars) for _ in range(10)))
    ids = sorted(out)
    rng.shuffle(ids)
    return ids


def make_full_release(root: Path, seed: int = 0) -> list[str]:
    """27 split files in LVU's format: 9,996 unique ids (161 starting with '-') from 2,797 titles; every id
    is in 1-3 tasks, in a split drawn per task (so some ids sit in different splits per task)."""
    rng = random.Random(seed)
    ids = _ids(rng)
    lines: dict[tuple[str, str], list[str]] = {(t, s): [] for t in lvu.TASKS for s in lvu.SPLITS}
    for n, vid in enumerate(ids):
        imdb = f"tt{n % N_TITLES:07d}"
        for task in rng.sample(lvu.TASKS, rng.randint(1, 3)):
            split = rng.choices(lvu.SPLITS, weights=(7, 1.5, 1.5))[0]
            if task == "like_ratio":
                fields = f"{rng.randint(1, 900)} {rng.randint(0, 90)}"
            elif task == "view_count":
                fields = str(rng.randint(10, 10**7))
            else:
                label = rng.randint(0, 4)
                name = UNKNOWN if task == "writer" and label == 0 else f"class_{label}"
                fields = f"{label} {name}"
            lines[(task, split)].append(f"{fields} {vid} {imdb}")
    for (task, split), rows in lines.items():
        path = root / lvu.RELEASE / task / f"{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(" ".join(lvu.HEADERS[task]) + "\n" + "\n".join(rows) + "\n")
    return ids


@pytest.fixture(scope="module")
def full_release(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("lvu-full")
    return root, make_full_release(root)


def test_dry_run_on_the_full_release_counts_ids_and_missing_videos(full_release, clip_bank, tmp_path, capsys):
    root, ids = full_release
    videos = tmp_path / "videos"
    videos.mkdir()
    present = [ids[0], next(i for i in ids if i.startswith("-")), ids[-1]]
    for vid, src in zip(present, sorted(clip_bank.glob("*.mp4"))):
        shutil.copy(src, videos / f"{vid}.mp4")
    (videos / f"{ids[5]}.mp4.part").write_bytes(b"partial download")  # never a video
    out = tmp_path / "out"
    code = main(["build-dataset", str(root), "--videos", str(videos), "-o", str(out), "--langs", "es",
                 "--dry-run", "--workers", "2"])
    text = capsys.readouterr().out  # a report, on stdout
    assert code == 0, text
    assert len(set(ids)) == N_IDS and sum(i.startswith("-") for i in ids) == N_DASH
    assert "│ ids" in text and f"{N_IDS}" in text
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in text.splitlines() if line.count("│") == 3}
    assert rows["ids"] == str(N_IDS)
    assert rows["videos found"] == "3"
    assert rows["videos missing"] == str(N_IDS - 3)
    assert rows["unreadable"] == "0"
    assert float(rows["hours of video found"]) == pytest.approx((4.0 + 3.0 + 3.5) / 3600, abs=0.006)
    assert not out.exists()  # a dry run writes nothing


def test_memberships_follow_every_task_and_split(full_release):
    root, ids = full_release
    sel = select(root, videos=root / "none")
    assert [c.id for c in sel.clips][:5] == list(lvu.memberships(lvu.read_release(root)))[:5]
    assert len(sel.clips) == N_IDS and all(c.path is None for c in sel.clips)
    multi = [c for c in sel.clips if len(c.tasks) > 1]
    assert multi and all(len(c.tasks) == len(c.splits) for c in sel.clips)
    assert any(len(set(c.splits)) > 1 for c in multi)  # different splits per task
    genre = select(root, videos=root / "none", tasks="genre,scene")
    assert 0 < len(genre.clips) < N_IDS
    assert all(set(c.tasks) <= {"genre", "scene"} for c in genre.clips)


def test_shards_partition_the_ids_exactly(full_release):
    root, ids = full_release
    shards = [{c.id for c in select(root, videos=root / "none", shard=(i, 2)).clips} for i in range(2)]
    assert shards[0].isdisjoint(shards[1])
    assert shards[0] | shards[1] == set(ids)
    assert abs(len(shards[0]) - len(shards[1])) < N_IDS * 0.05
    assert all(in_shard(i, (0, 1)) for i in ids[:100])


def test_cli_shards_partition_ids(full_release, tmp_path, capsys):
    """``--shard 0/2`` and ``1/2`` through the command: the dry runs' id counts add up to the whole."""
    root, ids = full_release
    counts = []
    for i in range(2):
        assert main(["build-dataset", str(root), "--videos", str(tmp_path), "-o", str(tmp_path / "o"),
                     "--langs", "es", "--dry-run", "--shard", f"{i}/2", "--workers", "1"]) == 0
        text = capsys.readouterr().out
        counts.append(int(next(line for line in text.splitlines() if "│ ids" in line).split("│")[2]))
    assert sum(counts) == N_IDS and all(counts)


def test_subsets_ids_file_and_limit(full_release, tmp_path):
    root, ids = full_release
    wanted = tmp_path / "ids.txt"
    wanted.write_text(f"# a comment\n{ids[3]}\n\n{ids[1]}\n{ids[3]}\n")
    assert [c.id for c in select(root, videos=tmp_path, ids_file=wanted).clips] == [ids[3], ids[1]]
    first = [c.id for c in select(root, videos=tmp_path).clips]
    assert [c.id for c in select(root, videos=tmp_path, limit=7).clips] == first[:7]
    wanted.write_text("notAnId1234\n")
    with pytest.raises(BadInputError, match="not in the dataset"):
        select(root, videos=tmp_path, ids_file=wanted)


@pytest.mark.parametrize("spec", ["2/2", "1", "a/b", "-1/3", "0/0"])
def test_bad_shard_is_one_sentence(spec):
    with pytest.raises(BadInputError, match="--shard"):
        parse_shard(spec)


def test_plain_folder_every_media_file_is_a_clip(tmp_path, clip_bank):
    src = sorted(clip_bank.glob("*.mp4"))
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(src[0], tmp_path / "a" / "b" / "x.mp4")
    shutil.copy(src[1], tmp_path / "x.mkv")
    (tmp_path / "notes.txt").write_text("not media")
    found = folder_media(tmp_path)
    assert found == {"a/b/x": tmp_path / "a" / "b" / "x.mp4", "x": tmp_path / "x.mkv"}
    shutil.copy(src[2], tmp_path / "x.mp4")  # same id as x.mkv: refused, naming both (issue 19)
    with pytest.raises(BadInputError, match="x.mkv and x.mp4 would both be clip id 'x'"):
        folder_media(tmp_path)
    with pytest.raises(BadInputError, match="--tasks needs an LVU release"):
        select(tmp_path, tasks="genre")
