"""Who keeps whose voice: a generated conversation (a low male and a female espeak-ng voice taking turns,
two turns inside one sentence-level segment, over music) dubbed with ``--diarizer ge2e`` and with
``--diarizer none`` (lssd before diarization: one speaker), measured against the generator's truth.

Per target language and true speaker: the median F0 of the dub track over that speaker's original spans
minus the original's (semitones), and the GE2E similarity of that stretch of the dub to each original
speaker. Also the CPU seconds of each run (this process's children).

    PYTHONPATH=. python benchmarks/speakers_dub.py [--langs es,fr] [--vc world]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

import numpy as np

from lssd import speaker
from lssd.cli import main as lssd
from lssd.dsp.metrics import median_f0
from lssd.media import decode_audio, probe, read_audio
from lssd.samples import make_conversation_clip

SR = 16_000


def truth_figures(output: Path, clip, langs: list[str]) -> dict:
    sc = json.loads(output.with_name(output.name.replace(".mkv", ".lssd.json")).read_text())
    orig = read_audio(clip.speech, SR).mean(axis=0)
    spans = {}
    for (a, b), who in zip(clip.spans, clip.speakers, strict=True):
        spans.setdefault(who, []).append((a, b))

    def cut(x, who):
        return np.concatenate([x[int(a * SR):int(b * SR)] for a, b in spans[who]])

    out = {}
    streams = probe(output).audio
    for t in sc["tracks"]:
        if t["kind"] == "original":
            continue
        dub = decode_audio(output, SR, stream=streams[t["audio_index"]].index).mean(axis=0)
        rows = {}
        for who in spans:
            fd, fo = median_f0(cut(dub, who), SR), median_f0(cut(orig, who), SR)
            e = speaker.embed(cut(dub, who))
            rows[who] = {"f0_st": round(12 * np.log2(fd / fo), 2),
                         "similarity": {k: round(float(np.dot(e, speaker.embed(cut(orig, k)))), 3) for k in spans}}
        out[t["language"]] = rows
    return out


def run(clip, diarizer: str, langs: str, vc: str, folder: Path) -> tuple[dict, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    output = folder / f"{diarizer}.dub.mkv"
    code = lssd(["dub", str(clip.path), "--langs", langs, "-o", str(output), "--workdir", str(folder / diarizer),
                 "--background", str(clip.background), "--diarizer", diarizer, "--vc", vc])
    assert code == 0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return truth_figures(output, clip, langs.split(",")), (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--langs", default="es,fr")
    ap.add_argument("--vc", default="world")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_conversation_clip(Path(tmp) / "talk.mp4")
        for diarizer in ("ge2e", "none"):
            figures, cpu = run(clip, diarizer, args.langs, args.vc, Path(tmp))
            print(f"--diarizer {diarizer} (cpu {cpu:.1f} s in process)")
            for lang, rows in figures.items():
                for who, r in rows.items():
                    print(f"  {lang} true {who}: F0 {r['f0_st']:+.2f} st, GE2E to originals {r['similarity']}")


if __name__ == "__main__":
    main()
