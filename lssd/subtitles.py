"""Reading and writing subtitles (SRT, WebVTT) and pulling them out of containers.

Subtitles are the one offline source of real text in other languages, so the parser is lenient where
real files are sloppy (BOM, CRLF, cp1252, missing hours, markup, blank lines inside a cue) and strict only
where a file cannot mean anything (no cue timings, a cue ending before it starts).
"""

from __future__ import annotations

import html
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lssd.errors import BadInputError
from lssd.media import MediaInfo, StreamInfo, atomic_output, ff_path, require_tool

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_RUBY_TEXT = re.compile(r"<rt>.*?</rt>", re.IGNORECASE | re.DOTALL)
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_SOUND_DESCRIPTION = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫]+")
_VTT_BLOCKS = ("NOTE", "STYLE", "REGION")
# Codecs that are pictures of text: ffmpeg cannot turn them into SRT.
BITMAP_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub", "dvb_teletext"})


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str  # markup removed, lines joined by single spaces


def read_subtitles(path: Path) -> list[Cue]:
    """Parse an SRT or WebVTT file (told apart by the ``WEBVTT`` header) into cues sorted by start."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"subtitle file not found: {path}")
    text = _decode(path.read_bytes())
    cues = _parse_vtt(text, path.name) if text.lstrip().startswith("WEBVTT") else _parse_srt(text, path.name)
    if not cues:
        raise BadInputError(f"{path.name} is not a valid SRT or WebVTT file (no cue timings found)")
    return sorted(cues, key=lambda c: c.start)


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252/latin-1, the usual legacy encodings."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data[:4096]:
        return ""  # binary: no cues, reported by the caller
    else:
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _seconds(h: str | None, m: str, s: str, frac: str | None, where: str) -> float:
    if int(s) >= 60 or (h is not None and int(m) >= 60):
        raise BadInputError(f"{where}: invalid timestamp {(h + ':') if h else ''}{m}:{s}")
    ms = (int(h or 0) * 3600 + int(m) * 60 + int(s)) * 1000 + int((frac or "0").ljust(3, "0"))
    return ms / 1000


def _timing(line: str, where: str) -> tuple[float, float] | None:
    m = _TIMING.match(line)
    if m is None:
        return None
    g = m.groups()
    start, end = _seconds(*g[0:4], where), _seconds(*g[4:8], where)
    if end < start:
        raise BadInputError(f"{where}: a cue ends before it starts ({line.strip()})")
    return start, end


def clean_text(lines: list[str]) -> str:
    """Cue lines → one line of plain text: tags, ASS overrides, entities and dialogue dashes removed."""
    out = []
    for line in lines:
        line = _RUBY_TEXT.sub("", line)
        line = html.unescape(_TAG.sub("", _ASS_OVERRIDE.sub("", line))).replace("\\N", " ")
        line = re.sub(r"^\s*[-–—]\s+", "", line).strip()
        if line:
            out.append(line)
    return re.sub(r"\s+", " ", " ".join(out)).strip()


def speech_text(text: str) -> str:
    """What of a cue is spoken: SDH sound descriptions ("[door slams]", "(laughs)") and music notes go."""
    return re.sub(r"\s+", " ", _SOUND_DESCRIPTION.sub(" ", text)).strip(" -–—")


def _parse_srt(text: str, name: str) -> list[Cue]:
    """Line scan, not block split: real SRT files have blank lines inside cues and cues without blank
    lines between them; a timing line is the only reliable boundary."""
    cues: list[Cue] = []
    current: tuple[float, float] | None = None
    body: list[str] = []

    def finish(before_timing: bool) -> None:
        while body and not body[-1].strip():
            body.pop()
        if before_timing and body and body[-1].strip().isdigit():
            body.pop()  # the next cue's index
        if current is not None:
            cues.append(Cue(current[0], current[1], clean_text(body)))

    for number, line in enumerate(text.split("\n"), 1):
        timing = _timing(line, f"{name} line {number}")
        if timing is None:
            body.append(line)
            continue
        finish(before_timing=True)
        current, body = timing, []
    finish(before_timing=False)
    return cues


def _parse_vtt(text: str, name: str) -> list[Cue]:
    """Block parse, as the WebVTT spec defines it: a blank line ends every block."""
    cues: list[Cue] = []
    blocks = re.split(r"\n[ \t]*\n", text.strip("\n"))
    for block in blocks[1:]:  # blocks[0] is the WEBVTT header
        lines = block.strip("\n").split("\n")
        if not lines or lines[0].split(" ")[0].split("\t")[0] in _VTT_BLOCKS:
            continue
        for i, line in enumerate(lines[:2]):
            timing = _timing(line, f"{name} cue {lines[0].strip()!r}")
            if timing is not None:
                cues.append(Cue(timing[0], timing[1], clean_text(lines[i + 1 :])))
                break
    return cues


def _srt_time(t: float) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: Path, cues: list[Cue]) -> None:
    """Write cues as UTF-8 SRT, atomically (a killed run never leaves half a subtitle file)."""
    blocks = [f"{i}\n{_srt_time(c.start)} --> {_srt_time(c.end)}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    with atomic_output(Path(path)) as tmp:
        tmp.write_text("\n".join(blocks), encoding="utf-8")


def text_subtitle_streams(info: MediaInfo) -> list[StreamInfo]:
    """Subtitle streams that carry text (not pictures of text), in container order."""
    return [s for s in info.subtitles if s.codec not in BITMAP_CODECS]


def extract_subtitle_stream(path: Path, stream: int, dest: Path) -> Path:
    """Convert subtitle stream ``stream`` (absolute index) of a container to an SRT file at ``dest``."""
    with atomic_output(Path(dest)) as tmp:
        cmd = [require_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-i", ff_path(path),
               "-map", f"0:{stream}", "-f", "srt", ff_path(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not tmp.exists():
            reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise BadInputError(f"cannot extract subtitle stream #{stream} of {Path(path).name} as text ({reason})")
    return Path(dest)
