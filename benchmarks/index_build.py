"""What `lssd index` costs at the paper's scale: detecting shots per hour of video, and assembling and
writing an index of millions of shots.

    .venv/bin/python benchmarks/index_build.py [--sources 1080p,360p] [--shots 1000000,5000000]

1. **Per title** (probe, sidecar, PySceneDetect's ContentDetector over every frame): ``index_titles``
   on the toy dataset rendered at each size (benchmarks/loader_throughput.py's); CPU
   hours per hour of video. This part is per title and runs in parallel over ``lssd index --workers``.
2. **Assembly** (what ``lssd index`` does after the per-title step: the titles' compact results into
   parquet, a row group's Arrow table at a time): real :class:`lssd.train.index.TitleShots` of a toy title
   (its probe and detection run once) repeated under distinct title ids, 100 shots each, so N shots are
   N / 100 titles. It measures the assembly, not detection. Each size runs in a fresh process: wall, CPU,
   peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loader_throughput import SIZES, cpu_seconds, peak_rss  # noqa: E402

SHOTS_PER_TITLE = 100


def detection(name: str, root: Path) -> dict:
    """Index the toy dataset rendered at ``name`` in this process: CPU seconds per hour of video."""
    from lssd.train.index import index_titles
    from lssd.train.toy import make_toy_dataset

    media = root / name
    make_toy_dataset(media, n_titles=4, size=SIZES[name])
    cpu = cpu_seconds()
    built = index_titles(media)
    cpu = cpu_seconds() - cpu
    hours = sum(t.title["duration"] for t in built.titles) / 3600
    return {"source": name, "titles": len(built.titles), "shots": built.shots, "hours": hours, "cpu_s": cpu,
            "cpu_h_per_h": cpu / 3600 / hours}


def assembly_child(n_shots: int, out: str) -> None:
    """One fresh process: N shots' titles from one real toy title, then the table and the parquet."""
    from lssd.train.index import IndexedTitles, _index_title, _Job, find_media
    from lssd.train.toy import make_toy_dataset

    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        make_toy_dataset(Path(tmp), n_titles=1, size=SIZES["180p"])
        media = find_media(Path(tmp))[0]
        shots, _ = _index_title(_Job(media, media.name, 3.0, 12.0, True, 27.0, {}))
    imported = peak_rss()
    wall, cpu = time.perf_counter(), cpu_seconds()
    titles = []
    for t in range(n_shots // SHOTS_PER_TITLE):
        title_id = f"show{t // 100:05d}/title{t:07d}.mkv"
        title = {**shots.title, "title_id": title_id, "media_path": f"/data/lvu-m/{title_id}",
                 **{k: list(v) for k, v in shots.title.items() if isinstance(v, list)}}  # as a worker's pickle
        starts = 5.0 * np.arange(SHOTS_PER_TITLE)
        titles.append(replace(shots, title=title, starts=starts, ends=starts + 4.0))
    made, made_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    rss_titles = peak_rss()
    built = IndexedTitles(titles, [], {})
    built.write(Path(out))
    print(json.dumps({"shots": built.shots, "titles_s": made, "titles_cpu": made_cpu,
                      "wall": time.perf_counter() - wall - made, "cpu": cpu_seconds() - cpu - made_cpu,
                      "rss_imports": imported, "rss_titles": rss_titles, "rss_peak": peak_rss(),
                      "bytes": Path(out).stat().st_size}))


def main() -> None:
    if sys.argv[1:2] == ["--assembly-child"]:
        return assembly_child(int(sys.argv[2]), sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default="1080p,360p", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--shots", default="1000000,5000000", help="index sizes for the assembly part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        for name in filter(None, args.sources.split(",")):
            r = detection(name, Path(tmp))
            print(f"detection, {name}: {r['titles']} titles, {r['hours'] * 3600:.0f} s of video, {r['shots']} shots: "
                  f"{r['cpu_s']:.1f} CPU s = {r['cpu_h_per_h']:.3f} CPU h per hour of video; LVU-M (370 h) "
                  f"{370 * r['cpu_h_per_h']:.0f} CPU h, the paper's 59,000 h {59_000 * r['cpu_h_per_h']:,.0f} "
                  f"CPU h (divide by --workers)", flush=True)
        for n in (int(x) for x in filter(None, args.shots.split(","))):
            out = subprocess.run([sys.executable, __file__, "--assembly-child", str(n), str(Path(tmp) / f"{n}.parquet")],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"assembly, {r['shots']:,} shots ({r['shots'] // SHOTS_PER_TITLE:,} titles): table + parquet "
                  f"{r['wall']:.1f} s wall {r['cpu']:.1f} s CPU ({r['bytes'] / 1e6:.0f} MB); peak RSS "
                  f"{r['rss_peak'] / 2**30:.2f} GiB ({r['rss_imports'] / 2**30:.2f} after imports, "
                  f"{r['rss_titles'] / 2**30:.2f} holding the titles' results)", flush=True)


if __name__ == "__main__":
    main()
