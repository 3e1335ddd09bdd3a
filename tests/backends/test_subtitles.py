"""lssd.subtitles: SRT/WebVTT as real files are, the malformed ones, writing, and extraction from containers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lssd.errors import BadInputError
from lssd.media import probe
from lssd.subtitles import Cue, extract_subtitle_stream, read_subtitles, speech_text, text_subtitle_streams, write_srt

from .conftest import need


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_srt_with_bom_crlf_tags_and_multiline_cues(tmp_path):
    srt = ("\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> there,\r\n"
           "<font color=\"red\">my friend</font>\r\n\r\n"
           "2\r\n00:00:03,250 --> 00:00:05,000 X1:10 X2:20\r\n{\\an8}- Who?\r\n- Me &amp; you.\r\n\r\n")
    cues = read_subtitles(_write(tmp_path, "a.srt", srt))
    assert cues == [Cue(1.0, 2.5, "Hello there, my friend"), Cue(3.25, 5.0, "Who? Me & you.")]


def test_srt_blank_line_inside_a_cue_and_missing_blank_line_between_cues(tmp_path):
    srt = ("1\n00:00:01,000 --> 00:00:02,000\nFirst line\n\nstill the first cue\n2\n"
           "00:00:02,500 --> 00:00:03,000\nSecond\n3\n00:00:04,000 --> 00:00:05,000\n42\n\n\n")
    cues = read_subtitles(_write(tmp_path, "b.srt", srt))
    assert [c.text for c in cues] == ["First line still the first cue", "Second", "42"]
    assert [(c.start, c.end) for c in cues] == [(1.0, 2.0), (2.5, 3.0), (4.0, 5.0)]


def test_srt_in_cp1252_and_dot_decimals(tmp_path):
    srt = "1\n00:00:01.5 --> 00:00:02.75\nAdiós, señor\n".encode("cp1252")
    assert read_subtitles(_write(tmp_path, "c.srt", srt)) == [Cue(1.5, 2.75, "Adiós, señor")]


def test_vtt_header_note_style_settings_and_optional_hours(tmp_path):
    vtt = ("\ufeffWEBVTT - a title\nKind: captions\n\nNOTE this is a comment\nspanning lines\n\n"
           "STYLE\n::cue { color: yellow }\n\n"
           "intro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Anna>Hello <c.loud>world</c></v>\n\n"
           "01:00:03.000 --> 01:00:04.000\nSecond <00:00:03.500>line\nwith <b>two</b> rows\n\n"
           "00:05.000 --> 00:06.000\n<ruby>漢<rt>かん</rt></ruby>字\n")
    cues = read_subtitles(_write(tmp_path, "d.vtt", vtt))
    assert cues == [Cue(1.0, 2.5, "Hello world"), Cue(5.0, 6.0, "漢字"), Cue(3603.0, 3604.0, "Second line with two rows")]


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("e.srt", "just some text\nwithout any timing\n", "no cue timings"),
        ("f.srt", "1\n00:00:05,000 --> 00:00:04,000\nbackwards\n", "ends before it starts"),
        ("g.srt", "1\n00:00:75,000 --> 00:00:76,000\nbad seconds\n", "invalid timestamp"),
        ("h.vtt", "WEBVTT\n\nNOTE nothing else\n", "no cue timings"),
        ("i.srt", b"\x00\x01\x02PK\x03\x04" * 50, "no cue timings"),
    ],
)
def test_malformed_files_are_one_sentence_errors(tmp_path, name, data, says):
    with pytest.raises(BadInputError, match=says) as err:
        read_subtitles(_write(tmp_path, name, data))
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        read_subtitles(tmp_path / "nope.srt")


def test_speech_text_drops_sound_descriptions():
    assert speech_text("[door slams] (gasps) Who's there? ♪") == "Who's there?"
    assert speech_text("♪ ♪") == ""


def test_write_srt_round_trips_atomically(tmp_path):
    cues = [Cue(0.0, 1.2346, "Uno"), Cue(3661.5, 3662.0, "Dos, tres")]
    path = tmp_path / "out" / "x.srt"
    write_srt(path, cues)
    assert path.read_text(encoding="utf-8").startswith("1\n00:00:00,000 --> 00:00:01,235\nUno\n\n2\n01:01:01,500")
    assert read_subtitles(path) == [Cue(0.0, 1.235, "Uno"), Cue(3661.5, 3662.0, "Dos, tres")]
    assert [p.name for p in path.parent.iterdir()] == ["x.srt"]


def test_extract_subtitle_stream_from_mkv(tmp_path):
    need("ffmpeg")
    srt = tmp_path / "in.srt"
    write_srt(srt, [Cue(0.5, 1.5, "Hola"), Cue(2.0, 2.8, "¿Qué tal?")])
    mkv = tmp_path / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono",
                    "-i", str(srt), "-t", "3", "-map", "0:a", "-map", "1:s", "-metadata:s:s:0", "language=spa",
                    "-c:s", "srt", str(mkv)], check=True)
    streams = text_subtitle_streams(probe(mkv))
    assert [(s.language, s.codec) for s in streams] == [("spa", "subrip")]
    out = extract_subtitle_stream(mkv, streams[0].index, tmp_path / "got" / "source.srt")
    got = read_subtitles(out)
    assert [c.text for c in got] == ["Hola", "¿Qué tal?"]
    assert [(c.start, c.end) for c in got] == [pytest.approx((0.5, 1.5), abs=0.01), pytest.approx((2.0, 2.8), abs=0.01)]
    with pytest.raises(BadInputError, match="cannot extract subtitle stream #0"):
        extract_subtitle_stream(mkv, 0, tmp_path / "audio-as-subs.srt")
