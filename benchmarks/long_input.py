"""Peak memory and work-dir bytes of `lssd dub` on long inputs with sparse speech (issue 10).

    .venv/bin/python benchmarks/long_input.py [--minutes 10 60] [--variants background dsp]
                                               [--langs es] [--limit-gb 8]

For each length a tiny-picture input (64x36 @ 5 fps) is generated: a quiet noise-and-tone bed made by
ffmpeg and one espeak sentence every ``--every`` seconds, with an SRT of the sentences. Each variant dubs it
in a child process (``background``: the bed given with --background, so no separation; ``dsp``: the
weights-free separator). Printed per run: the peak RSS of the largest process (ru_maxrss), the peak RSS
of the whole process tree and its anonymous part (polled every 0.1 s; the rest is file pages such as
memory-mapped work WAVs, which the kernel reclaims under pressure), the work-dir bytes and the wall time. A tree whose anonymous memory
grows past ``--limit-gb`` is killed and reported as such (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from lssd import stages
from lssd.media import SAMPLE_RATE, atomic_output, require_tool
from lssd.samples import speak
from lssd.subtitles import Cue, write_srt

LINES = (
    "The harbour wakes up early, long before the first ferry leaves for the islands.",
    "Nobody knows where the old lighthouse keeper went last winter.",
    "By noon the market is full of tourists and the smell of grilled sardines.",
    "In the evening the storm arrives, and the whole town listens to the rain.",
)
GIB = 1024**3


def make_input(folder: Path, seconds: float, every: float) -> tuple[Path, Path, Path]:
    """(video, background FLAC, source SRT): speech written block-wise, so generation stays small too."""
    ffmpeg = require_tool("ffmpeg")
    bed, srt, video = folder / "bed.flac", folder / "source.srt", folder / "input.mp4"
    if bed.exists() and srt.exists() and video.exists():  # kept from an earlier run (--keep)
        return video, bed, srt
    subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.01:sample_rate={SAMPLE_RATE}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate={SAMPLE_RATE}:duration={seconds}",
                    "-filter_complex", "[1:a]volume=0.03[t];[0:a][t]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo",
                    "-c:a", "flac", "-sample_fmt", "s16", str(bed)], check=True)
    voices = [speak(line) * 0.15 / max(1e-6, float(np.abs(speak(line)).max())) for line in LINES]
    speech = folder / "speech.flac"
    cues = []
    block = SAMPLE_RATE * int(every)
    with sf.SoundFile(speech, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="FLAC") as out:
        for i, start in enumerate(np.arange(1.0, seconds - every / 2, every)):
            voice = voices[i % len(voices)][:block - SAMPLE_RATE]
            chunk = np.zeros(block, dtype=np.float32)
            chunk[SAMPLE_RATE : SAMPLE_RATE + voice.size] = voice
            out.write(chunk)
            cues.append(Cue(float(start), float(start) + voice.size / SAMPLE_RATE, LINES[i % len(LINES)]))
    write_srt(srt, cues)
    with atomic_output(video) as tmp:  # written last: its presence means the inputs are complete
        subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-y",
                        "-f", "lavfi", "-i", f"color=c=gray:size=64x36:rate=5:duration={seconds}",
                        "-i", str(bed), "-i", str(speech),
                        "-filter_complex", "[2:a]pan=stereo|c0=c0|c1=c0[s];[1:a][s]amix=inputs=2:normalize=0:duration=first[a]",
                        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k",
                        "-metadata:s:a:0", "language=eng", "-t", f"{seconds}", "-f", "mp4", str(tmp)], check=True)
    speech.unlink()
    return video, bed, srt


def tree_rss(root: int) -> tuple[int, int, str]:
    """Summed RSS and anonymous RSS (bytes) of ``root`` and all its descendants, from /proc, and who holds
    it (name and anonymous MB of each process). The rest of RSS is file pages mapped in (e.g.
    memory-mapped work WAVs): clean page cache the kernel can take back."""
    children: dict[int, list[int]] = {}
    rss: dict[int, tuple[int, int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        names[int(entry)] = stat.split("(", 1)[1].rsplit(")", 1)[0]
        children.setdefault(ppid, []).append(int(entry))
        fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in status.splitlines()
                  if line.startswith(("VmRSS:", "RssAnon:"))}
        rss[int(entry)] = (fields.get("VmRSS", 0), fields.get("RssAnon", 0))
    total, anon, todo, who = 0, 0, [root], []
    while todo:
        pid = todo.pop()
        total += rss.get(pid, (0, 0))[0]
        anon += rss.get(pid, (0, 0))[1]
        who.append(f"{names.get(pid, '?')} {rss.get(pid, (0, 0))[1] / 1e6:.0f}")
        todo.extend(children.get(pid, []))
    return total, anon, ", ".join(who)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def dub(video: Path, out: Path, work: Path, extra: list[str], langs: str, limit: int) -> dict:
    cmd = [sys.executable, "-c", "from lssd.cli import _console_main; _console_main()", "dub", str(video),
           "--langs", langs, "-o", str(out), "--workdir", str(work), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    peak, anon_peak, killed, chunks, holders = 0, 0, False, [], ""
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        chunks.append(proc.stdout.read() or b"")
        if pid:
            break
        total, anon, who = tree_rss(proc.pid)
        if anon > anon_peak:  # who holds it, in which stage (the first without a finished record)
            running = next((s.name for s in stages.TABLE if not any(work.glob(f"{s.name}/**/done.json"))), "-")
            holders = f"{who}; stage {running}"
        peak, anon_peak = max(peak, total), max(anon_peak, anon)
        if anon > limit and not killed:  # anonymous memory: file pages are reclaimable, forks count twice in RSS
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    chunks.append(proc.stdout.read() or b"")
    log = b"".join(chunks).decode(errors="replace")
    maxrss = usage.ru_maxrss * 1024  # the child and the processes it waited for, largest one
    return {"rc": proc.returncode, "killed": killed, "tree_peak": peak, "anon_peak": anon_peak, "wall": time.perf_counter() - t0,
            "maxrss": maxrss, "holders": holders, "work_bytes": dir_bytes(work) if work.exists() else 0,
            "files": sorted((dir_bytes(p) if p.is_dir() else p.stat().st_size, str(p.relative_to(work)))
                            for p in work.rglob("*.wav")) if work.exists() else [],
            "log": log}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0])
    parser.add_argument("--variants", nargs="+", default=["background", "dsp"], choices=["background", "dsp"])
    parser.add_argument("--langs", default="es")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between sentences")
    parser.add_argument("--asr", default="subtitles", help="transcribe backend (subtitles: the generated SRT)")
    parser.add_argument("--vc", default="none", help="voice-convert backend")
    parser.add_argument("--limit-gb", type=float, default=8.0, help="kill a run whose process tree exceeds this")
    parser.add_argument("--keep", type=Path, help="keep inputs and work dirs under this folder")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="lssd-long-"))
    try:
        for minutes in args.minutes:
            folder = base / f"{minutes:g}min"
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            video, bed, srt = make_input(folder, minutes * 60, args.every)
            print(f"{minutes:g} min input: {video.stat().st_size / 1e6:.1f} MB, generated in {time.perf_counter() - t0:.0f} s",
                  flush=True)
            for variant in args.variants:
                extra = ["--asr", args.asr, "--vc", args.vc, "--source-lang", "en"]
                extra += ["--source-subtitles", str(srt)] if args.asr == "subtitles" else []
                extra += ["--background", str(bed)] if variant == "background" else ["--separator", "dsp"]
                work = folder / f"work-{variant}"
                shutil.rmtree(work, ignore_errors=True)
                r = dub(video, folder / f"out-{variant}.mkv", work, extra, args.langs, int(args.limit_gb * GIB))
                status = "killed at limit" if r["killed"] else ("ok" if r["rc"] == 0 else f"exit {r['rc']}")
                maxrss = f"{r['maxrss'] / GIB:.2f}" if r["maxrss"] else "n/a"
                print(f"  {variant:10s} {status:16s} peak RSS {maxrss} GiB (tree {r['tree_peak'] / GIB:.2f} GiB, "
                      f"anonymous {r['anon_peak'] / GIB:.2f} GiB)  "
                      f"work dir {r['work_bytes'] / 1e6:.0f} MB  {r['wall']:.0f} s", flush=True)
                print(f"      anonymous peak held by (MB): {r['holders']}")
                for size, name in r["files"][::-1][:6]:
                    print(f"      {size / 1e6:8.1f} MB  {name}")
                if r["rc"] != 0:
                    print("\n".join("      | " + line for line in r["log"].strip().splitlines()[-5:]))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
