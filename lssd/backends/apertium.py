"""Apertium: real rule-based machine translation, offline, through the ``apertium`` command.

The installed pairs are few and mostly touch Spanish, so a target without a direct pair is reached by
pivoting (English→French = eng-spa then es-fr): a breadth-first search over the modes ``apertium -l``
lists, with their mixed 2- and 3-letter codes normalised. Each hop is one ``apertium`` call for the whole
clip, segments separated by blank lines (which Apertium keeps, and treats as sentence boundaries).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import deque
from functools import cache
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.protocols import TranslationResult
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.segments import KIND_TRANSLATION, Transcript
from lssd.errors import BadInputError, LssdError
from lssd.media import require_tool
from lssd.languages import Language, find, get_language

NOT_INSTALLED = "apertium is not installed; run ./install.sh"
MODE_DIRS = (Path("/usr/share/apertium/modes"), Path("/usr/local/share/apertium/modes"))
_MARK = re.compile(r"(?<!\w)[*#@](?=\w)")  # unknown word, generation error, transfer error
_SEPARATOR = re.compile(r"\n[ \t]*\n")



@cache
def modes() -> dict[tuple[str, str], str]:
    """(source iso3, target iso3) → mode name, for every plain ``xx-yy`` mode (variants like
    ``es-pt_BR`` and compound modes like ``eco-es-fr`` are left out)."""
    out = subprocess.run([require_tool("apertium"), "-l"], capture_output=True, text=True, check=False).stdout
    pairs: dict[tuple[str, str], str] = {}
    for mode in sorted(out.split()):
        parts = mode.split("-")
        if len(parts) != 2 or "_" in mode:
            continue
        src, tgt = (find(p) for p in parts)
        if src is not None and tgt is not None:
            pairs.setdefault((src.iso3, tgt.iso3), mode)
    return pairs


def find_path(source: str, target: str) -> list[str] | None:
    """Fewest-hop chain of modes from ``source`` to ``target`` (ISO 639-2/T); None when there is none."""
    graph = modes()
    previous: dict[str, tuple[str, str] | None] = {source: None}
    queue = deque([source])
    while queue:
        lang = queue.popleft()
        if lang == target:
            chain = []
            while previous[lang] is not None:
                lang, mode = previous[lang]
                chain.append(mode)
            return chain[::-1]
        for (src, tgt), mode in graph.items():
            if src == lang and tgt not in previous:
                previous[tgt] = (lang, mode)
                queue.append(tgt)
    return None


def translate_texts(texts: list[str], mode: str) -> list[str]:
    """One hop for a whole clip: empty texts stay empty; the segment count is checked, and if Apertium
    ever merged or split paragraphs the hop is redone one segment per call."""
    todo = [i for i, t in enumerate(texts) if t.strip()]
    out = [""] * len(texts)
    if not todo:
        return out
    batch = "\n\n".join(" ".join(texts[i].split()) for i in todo)
    pieces = [p.strip() for p in _SEPARATOR.split(_run(mode, batch).strip())]
    if len(pieces) != len(todo):
        pieces = [_run(mode, " ".join(texts[i].split())).strip() for i in todo]
    for i, piece in zip(todo, pieces, strict=True):
        out[i] = " ".join(_MARK.sub("", piece).split())
    return out


def _run(mode: str, text: str) -> str:
    proc = subprocess.run([require_tool("apertium"), "-u", mode], input=text + "\n", capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise LssdError(f"apertium {mode} failed ({reason}); run ./install.sh to repair the language pairs")
    return proc.stdout


@cache
def _version() -> str:
    return subprocess.run([require_tool("apertium"), "-V"], capture_output=True, text=True, check=False).stdout.strip()


@cache
def _package(mode: str) -> str:
    """``apertium-eng-spa 0.8.1-2``: the Debian package that installed a mode, for the sidecar."""
    for folder in MODE_DIRS:
        file = folder / f"{mode}.mode"
        if file.is_file() and shutil.which("dpkg"):
            owner = subprocess.run(["dpkg", "-S", str(file)], capture_output=True, text=True, check=False)
            name = owner.stdout.split(":")[0].strip()
            if owner.returncode == 0 and name:
                ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
                return f"{name} {ver.stdout.strip()}"
    return f"{mode} (package unknown)"


class ApertiumTranslator:
    def __init__(self) -> None:
        # what the last translate() did ("eng->fra" -> modes): the engine lives for the process
        # (registry.engine), so provenance() describes this clip and language only, never earlier clips
        self.paths: dict[str, list[str]] = {}

    def translate(self, transcript: Transcript, target: Language, vocals: np.ndarray, sr: int) -> TranslationResult:
        source = get_language(transcript.language).iso3 if transcript.language != "und" else "und"
        chain = find_path(source, target.iso3)
        if chain is None:
            raise BadInputError(f"Apertium has no path from {transcript.language} to {target.name}")
        texts = [s.text for s in transcript.segments]
        if transcript.segments and not any(t.strip() for t in texts):
            raise BadInputError("the transcript has no text to translate (speech was located, not transcribed)")
        for mode in chain:
            texts = translate_texts(texts, mode)
        self.paths = {f"{source}->{target.iso3}": chain}
        return TranslationResult(texts={s.id: t for s, t in zip(transcript.segments, texts, strict=True)},
                                 kind=KIND_TRANSLATION)

    def provenance(self) -> dict:
        used = sorted({m for chain in self.paths.values() for m in chain})
        return {
            "backend": "apertium",
            "library": _version(),
            "model": ", ".join(_package(m) for m in used) or None,
            "files": {},
            "settings": {"paths": dict(self.paths), "unknown_word_marks": "removed"},
        }


def _check(cfg: DubConfig, lang: Language | None) -> str | None:
    if shutil.which("apertium") is None:
        return NOT_INSTALLED
    if lang is None:
        return "no target language"
    if not cfg.source_language or cfg.source_language == "und":
        return "the source language is unknown"
    source = get_language(cfg.source_language)
    if source == lang:
        return f"the speech is already {lang.name}"
    if find_path(source.iso3, lang.iso3) is None:
        return f"no installed Apertium pair leads from {source.name} to {lang.name}"
    return None


register(
    Backend(
        stage=stages.TRANSLATE,
        name="apertium",
        label="Apertium rule-based MT (offline)",
        priority=50,
        load=lambda cfg: ApertiumTranslator(),
        check=_check,
        needs_text=True,
    )
)
