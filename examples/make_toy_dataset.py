"""Generate the toy multi-track dataset and index its shots (what the tiny recipe trains on).

    .venv/bin/python examples/make_toy_dataset.py [OUT_DIR] [--titles 4] [--workers 2]

Writes OUT_DIR/media/*.mkv|mp4 (+ sidecars, toy_manifest.json) and OUT_DIR/shots.parquet.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lssd.train.index import build_index, write_index
from lssd.train.toy import MANIFEST, make_toy_dataset


def run(out_dir: Path, titles: int, workers: int) -> int:
    media = out_dir / "media"
    t0 = time.perf_counter()
    make_toy_dataset(media, n_titles=titles)
    t1 = time.perf_counter()
    df = build_index(media, workers=workers)
    index = write_index(df, out_dir / "shots.parquet")
    t2 = time.perf_counter()
    print(f"generated {titles} titles in {t1 - t0:.1f} s, indexed in {t2 - t1:.1f} s -> {index}")
    truth = {t["name"]: t for t in json.loads((media / MANIFEST).read_text())["titles"]}
    for title_id, rows in df.groupby("title_id", sort=True):
        first = rows.iloc[0]
        kept = ", ".join(f"{s:.2f}-{e:.2f}" for s, e in zip(rows["shot_start"], rows["shot_end"]))
        print(f"  {title_id:18s} audio {','.join(first['audio_languages']):16s} "
              f"original {first['original_language']}  cuts made {len(truth[title_id]['cuts'])}  "
              f"shots kept {len(rows)}: {kept}")
    for warning in df.attrs["warnings"]:
        print(f"  warning: {warning}")
    print(f"{len(df)} shots of 3-12 s from {df['title_id'].nunique()} titles")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("out/toy"))
    parser.add_argument("--titles", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.exit(run(args.out_dir, args.titles, args.workers))
