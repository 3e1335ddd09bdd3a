"""Probing and decoding media with ffmpeg/ffprobe, and reading/writing audio.

All pipeline audio is float32, shape (channels, samples), at :data:`SAMPLE_RATE` unless a function says
otherwise. Every writer goes through :func:`atomic_output` so a killed run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import functools
import errno
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from lssd.errors import BadInputError, LssdError, disk_full

SAMPLE_RATE = 48_000  # working rate of the pipeline: the video world's rate and the paper's audio rate


@dataclass(frozen=True)
class StreamInfo:
    index: int  # absolute stream index in the container
    kind: str  # "video" | "audio" | "subtitle" | ...
    codec: str
    language: str | None = None
    title: str | None = None
    channels: int = 0
    sample_rate: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    duration: float | None = None
    start_time: float = 0.0  # where the stream starts on the container's timeline (codec delays show here)
    default: bool = False
    attached_pic: bool = False


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float
    format_name: str
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)

    def of_kind(self, kind: str) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == kind and not s.attached_pic]

    @property
    def video(self) -> list[StreamInfo]:
        return self.of_kind("video")

    @property
    def audio(self) -> list[StreamInfo]:
        return self.of_kind("audio")

    @property
    def subtitles(self) -> list[StreamInfo]:
        return self.of_kind("subtitle")

    @property
    def has_video(self) -> bool:
        return bool(self.video)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LssdError(f"'{name}' is not installed; run ./install.sh (it installs ffmpeg, espeak-ng, rubberband, apertium)")
    return path


@functools.cache
def tool_version(path: str, flag: str = "-version") -> str:
    """The first non-blank line ``<path> <flag>`` prints (stdout, then stderr), "" when it cannot run;
    asked once per process (a dataset worker would otherwise spawn it for every clip's provenance)."""
    try:
        proc = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return next((line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()), "")


def ff_path(path: Path) -> str:
    """A path as ffmpeg/ffprobe must be given it: absolute, so a file name starting with ``-`` (161 LVU
    ids do) is never read as an option."""
    return str(Path(path).absolute())


def _rate(text: str | None) -> float:
    if not text or text == "0/0":
        return 0.0
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def probe(path: Path) -> MediaInfo:
    """ffprobe a file; a missing or unreadable file is a one-line :class:`BadInputError`."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"input file not found: {path}")
    if not path.is_file():
        raise BadInputError(f"input is not a file: {path}")
    cmd = [require_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", ff_path(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise BadInputError(f"cannot read {path.name} as audio/video ({reason.split(': ')[-1]})")
    data = json.loads(proc.stdout or "{}")
    streams = []
    for s in data.get("streams", []):
        tags = s.get("tags", {})
        disp = s.get("disposition", {})
        dur = s.get("duration") or tags.get("DURATION")
        streams.append(
            StreamInfo(
                index=int(s["index"]),
                kind=s.get("codec_type", "unknown"),
                codec=s.get("codec_name", "unknown"),
                language=tags.get("language"),
                title=tags.get("title") or tags.get("handler_name"),
                channels=int(s.get("channels", 0) or 0),
                sample_rate=int(s.get("sample_rate", 0) or 0),
                fps=_rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate")),
                width=int(s.get("width", 0) or 0),
                height=int(s.get("height", 0) or 0),
                duration=_duration(dur),
                start_time=_duration(s.get("start_time")) or 0.0,
                default=bool(disp.get("default", 0)),
                attached_pic=bool(disp.get("attached_pic", 0)),
            )
        )
    fmt = data.get("format", {})
    duration = _duration(fmt.get("duration"))
    if duration is None:
        durations = [s.duration for s in streams if s.duration]
        duration = max(durations) if durations else None
    if not streams or duration is None or duration <= 0:
        raise BadInputError(f"cannot read {path.name} as audio/video (no decodable streams)")
    return MediaInfo(path=path, duration=duration, format_name=fmt.get("format_name", ""), streams=tuple(streams))


def _duration(value: str | float | None) -> float | None:
    if value in (None, "", "N/A"):
        return None
    if isinstance(value, str) and ":" in value:  # mkv tag DURATION=00:00:12.345000000
        h, m, s = value.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    return float(value)


BLOCK = 10 * SAMPLE_RATE  # frames per block of a block-wise audio pass: memory stays flat in input length


def _audio_decoder(path: Path, sr: int, stream: int | None, channels: int | None,
                   timeline: bool) -> tuple[list[str], int, int]:
    """The ffmpeg command decoding one audio stream to interleaved f32le on stdout, its channel count and
    the timeline shift in samples (positive: pad that much at the start; negative: drop that much)."""
    info = probe(path)
    audio_streams = info.audio
    if not audio_streams:
        raise BadInputError(f"{Path(path).name} has no audio stream")
    chosen = next((s for s in audio_streams if s.index == stream), None) if stream is not None else audio_streams[0]
    if chosen is None:
        raise BadInputError(f"{Path(path).name} has no audio stream #{stream}")
    ch = channels or min(max(chosen.channels, 1), 2)
    cmd = [require_tool("ffmpeg"), "-v", "error", "-nostdin", "-i", ff_path(path), "-map", f"0:{chosen.index}",
           "-ac", str(ch), "-ar", str(sr), "-f", "f32le", "-"]
    shift = 0
    if timeline:
        origin = info.video[0].start_time if info.video else min(s.start_time for s in audio_streams)
        shift = int(round((chosen.start_time - origin) * sr))
    return cmd, ch, shift


def _decode_failed(path: Path, stderr: str) -> BadInputError:
    reason = (stderr.strip().splitlines() or ["unknown error"])[-1]
    return BadInputError(f"cannot decode audio of {Path(path).name} ({reason})")


def decode_audio(path: Path, sr: int = SAMPLE_RATE, stream: int | None = None, channels: int | None = None,
                 timeline: bool = False) -> np.ndarray:
    """Decode one audio stream (absolute index, default: the first) to float32 (channels, samples).

    With ``timeline`` the samples are placed on the picture's timeline: sample 0 is the moment the first
    video frame shows (a stream that starts later is padded, one that starts earlier — e.g. AAC priming
    kept by a stream copy into Matroska — is trimmed), so every track lines up with the video and each other.
    For a whole soundtrack use :func:`decode_audio_to_wav`, which never holds it in memory."""
    cmd, ch, shift = _audio_decoder(path, sr, stream, channels, timeline)
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise _decode_failed(path, proc.stderr.decode(errors="replace"))
    data = np.frombuffer(proc.stdout, dtype=np.float32)
    if data.size == 0:
        raise BadInputError(f"{Path(path).name}: its audio stream decodes to nothing")
    audio = data.reshape(-1, ch).T.copy()
    return np.pad(audio, ((0, 0), (shift, 0))) if shift > 0 else audio[:, -shift:]


def decode_audio_to_wav(path: Path, dest: Path, sr: int = SAMPLE_RATE, stream: int | None = None,
                        channels: int | None = None, timeline: bool = False) -> int:
    """:func:`decode_audio` streamed block by block onto a 32-bit float WAV at ``dest`` (same samples);
    returns its length in frames. ``dest`` is written in place: give it a name from :func:`atomic_output`."""
    cmd, ch, shift = _audio_decoder(path, sr, stream, channels, timeline)
    frame_bytes = 4 * ch
    written = 0
    with tempfile.TemporaryFile() as errors, sf.SoundFile(dest, "w", sr, ch, subtype="FLOAT", format="WAV") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        with proc.stdout:
            for start in range(0, max(shift, 0), BLOCK):
                out.write(np.zeros((min(BLOCK, shift - start), ch), dtype=np.float32))
            skip = max(-shift, 0)
            while chunk := proc.stdout.read(BLOCK * frame_bytes):
                frames = np.frombuffer(chunk[: len(chunk) - len(chunk) % frame_bytes], dtype=np.float32).reshape(-1, ch)
                dropped = min(skip, len(frames))
                skip -= dropped
                out.write(frames[dropped:])
                written += len(frames) - dropped
        if proc.wait() != 0:
            errors.seek(0)
            raise _decode_failed(path, errors.read().decode(errors="replace"))
    if written == 0 and shift <= 0:
        raise BadInputError(f"{Path(path).name}: its audio stream decodes to nothing")
    return written + max(shift, 0)


def video_end(path: Path, stream: int, near: float) -> float | None:
    """Where the video stream's last packet ends, in seconds on the container's timeline, found by
    demuxing (not decoding) from shortly before ``near`` (the declared duration): a file cut short ends
    earlier than its header says. A file that cannot seek (a cut Matroska has no cues) is demuxed from
    the start. None when the stream has no timed packets."""
    import av

    def last_end(seek_to: float | None) -> float | None:
        with av.open(str(path)) as container:
            video = next((s for s in container.streams if s.index == stream), None)
            if video is None or video.time_base is None:
                return None
            base = video.time_base
            if seek_to is not None:
                container.seek(int(seek_to / base), stream=video, backward=True, any_frame=False)
            end = None
            for packet in container.demux(video):
                if packet.pts is not None:
                    stop = float((packet.pts + (packet.duration or 0)) * base)
                    end = stop if end is None else max(end, stop)
            return end

    if near > 10.0:
        try:
            return last_end(near - 10.0)
        except av.error.FFmpegError:
            pass
    return last_end(None)


TEMP_MARK = ".lssd-tmp-"  # every temporary lssd writes: .<stem>.lssd-tmp-<pid><suffix>


def temporary_pid(name: str) -> int | None:
    """The writer's pid in a temporary's name, or None for any other name."""
    if TEMP_MARK not in name:
        return None
    pid = name.rsplit(TEMP_MARK, 1)[1].split(".", 1)[0]
    return int(pid) if pid.isdigit() else None


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TEMP_MARK}{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as exc:
        # libraries word a full disk their own way (libsndfile: "System error."): name it, and the file
        if not isinstance(exc, LssdError) and not disk_full(exc) and no_room(path.parent):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


MIN_FREE_BYTES = 1 << 20  # less room than this where a write failed: the disk is what failed


def no_room(folder: Path) -> bool:
    """The file system of ``folder`` is (all but) full."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    free = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail  # root may write into the reserve
    return free * stat.f_frsize < MIN_FREE_BYTES


def write_audio(path: Path, audio: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write float audio (channels, samples) or (samples,) as 32-bit float WAV, atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    with audio_writer(path, audio.shape[0], sr) as write:
        for start in range(0, audio.shape[1], BLOCK):  # a whole-track interleaved copy is never made
            write(audio[:, start : start + BLOCK])


def read_audio(path: Path, sr: int | None = SAMPLE_RATE, mono: bool = False) -> np.ndarray:
    """Read a WAV written by :func:`write_audio`: (channels, samples), resampled to ``sr`` if needed."""
    data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    audio = data.T
    if mono:
        audio = audio.mean(axis=0, keepdims=True)
    if sr is not None and file_sr != sr:
        audio = resample(audio, file_sr, sr)
    return np.ascontiguousarray(audio)


def open_wav(path: Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A WAV written by :func:`write_audio` as a read-only (channels, samples) view of the file (a memory
    map): slicing it reads only that part, so a long work file costs no memory until used. Any other WAV
    (another rate or sample format) is read whole with :func:`read_audio`."""
    layout = _float_wav_layout(Path(path))
    if layout is None or layout[2] != sr:
        return read_audio(path, sr)
    offset, channels, _ = layout
    frames = (Path(path).stat().st_size - offset) // (4 * channels)
    return np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(frames, channels)).T


def _mapped_track(audio: np.ndarray) -> np.memmap | None:
    """The file map behind a whole (channels, n) track from :func:`open_wav`, else None."""
    mapped = audio.base if isinstance(audio, np.memmap) else None
    if isinstance(mapped, np.memmap) and mapped.filename and audio.ndim == 2 and audio.shape == mapped.shape[::-1]:
        return mapped
    return None


def read_span(audio: np.ndarray, a: int, b: int) -> np.ndarray:
    """``audio[..., a:b]`` clipped to the signal (a negative index is 0, not counted from the end), as an
    array in memory. From a whole track of :func:`open_wav` the samples are read from its file, not through
    the map: a map keeps every page it touched resident, so passes over a long track would otherwise grow
    the process by the track's size."""
    n = audio.shape[-1]
    a, b = max(0, min(a, n)), max(0, min(b, n))
    mapped = _mapped_track(audio)
    if mapped is None:
        return np.asarray(audio[..., a:b])
    channels = mapped.shape[1]
    with open(mapped.filename, "rb") as f:
        f.seek(mapped.offset + a * channels * 4)
        return np.fromfile(f, dtype="<f4", count=max(b - a, 0) * channels).reshape(-1, channels).T


def array_blocks(audio: np.ndarray, block: int = BLOCK) -> Iterator[np.ndarray]:
    """(channels, n) or (n,) audio in pieces of at most ``block`` samples along the last axis, in order
    (a whole track from :func:`open_wav` read from its file: :func:`read_span`)."""
    n = audio.shape[-1]
    for a in range(0, n, block):
        yield read_span(audio, a, a + block)


def _float_wav_layout(path: Path) -> tuple[int, int, int] | None:
    """(data offset, channels, rate) of a 32-bit float WAV, None for anything else."""
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF" or (f.read(4), f.read(4))[1] != b"WAVE":
            return None
        fmt = None
        while header := f.read(8):
            if len(header) < 8:
                return None
            kind, size = header[:4], int.from_bytes(header[4:], "little")
            if kind == b"fmt ":
                body = f.read(size + size % 2)
                tag, channels, rate = (int.from_bytes(body[i:j], "little") for i, j in ((0, 2), (2, 4), (4, 8)))
                bits = int.from_bytes(body[14:16], "little")
                if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat's tag
                    tag = int.from_bytes(body[24:26], "little")
                fmt = (channels, rate) if tag == 3 and bits == 32 else None
            elif kind == b"data":
                return (f.tell(), *fmt) if fmt else None
            else:
                f.seek(size + size % 2, os.SEEK_CUR)
    return None


def audio_blocks(path: Path, block: int = BLOCK) -> Iterator[np.ndarray]:
    """A WAV's samples as float32 (channels, frames) blocks of at most ``block`` frames, in order."""
    with sf.SoundFile(str(path)) as f:
        while (data := f.read(block, dtype="float32", always_2d=True)).size:
            yield data.T


@contextlib.contextmanager
def audio_writer(path: Path, channels: int, sr: int = SAMPLE_RATE) -> Iterator[Callable[[np.ndarray], None]]:
    """Write a 32-bit float WAV block by block: yields ``write((channels, frames) block)``; the file
    appears at ``path`` (atomically) only when the block succeeds."""
    with atomic_output(Path(path)) as tmp, sf.SoundFile(tmp, "w", sr, channels, subtype="FLOAT", format="WAV") as out:
        yield lambda block: out.write(np.asarray(block, dtype=np.float32).T)


def resize_wav(path: Path, n: int) -> None:
    """Cut or zero-pad a WAV in place to exactly ``n`` frames (:func:`pad_or_trim` for a file)."""
    with sf.SoundFile(str(path), "r+") as f:
        if f.frames > n:
            f.truncate(n)
            return
        f.seek(0, sf.SEEK_END)
        for start in range(f.frames, n, BLOCK):
            f.write(np.zeros((min(BLOCK, n - start), f.channels), dtype=np.float32))


def audio_level(path: Path) -> tuple[float, float]:
    """(peak, mean power in dBFS) of a WAV, read block by block."""
    peak, power, count = 0.0, 0.0, 0
    for block in audio_blocks(path):
        peak = max(peak, float(np.max(np.abs(block))))
        power += float(np.sum(block.astype(np.float64) ** 2))
        count += block.size
    return peak, 10 * np.log10(power / max(count, 1) + 1e-20)


def pad_or_trim(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` cut or zero-padded at the end to exactly ``n`` samples along its last axis."""
    have = audio.shape[-1]
    if have >= n:
        return audio[..., :n]
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, n - have)])


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return audio
    import librosa

    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq").astype(np.float32)


def write_json(path: Path, data: object) -> None:
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
