"""Generate a sample clip (moving picture + music-and-noise background + espeak-ng English speech) and
dub it into Spanish, French and Japanese with whatever backends this machine has.

    .venv/bin/python examples/dub_sample.py [OUT_DIR] [--langs es,fr,ja]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lssd.cli import main as lssd
from lssd.media import probe
from lssd.samples import make_sample_clip


def run(out_dir: Path, langs: str) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = make_sample_clip(out_dir / "harbour.mp4")
    print(f"sample clip: {clip.path} ({clip.duration:.1f} s, speech at {[(round(a, 2), round(b, 2)) for a, b in clip.spans]})")
    output = out_dir / "harbour.dub.mkv"
    code = lssd(["dub", str(clip.path), "--langs", langs, "-o", str(output)])
    if code:
        return code
    for stream in probe(output).streams:
        print(f"  stream {stream.index}: {stream.kind:8s} {stream.codec:6s} {stream.language or '':4s} {stream.title or ''}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("out/example"))
    parser.add_argument("--langs", default="es,fr,ja")
    args = parser.parse_args()
    sys.exit(run(args.out_dir, args.langs))
