"""One consistent command line: every command that writes names its output -o/--output."""

from __future__ import annotations

import re

import pytest

from lssd.cli import _unalias, main

WRITERS = ["dub", "transcribe", "remux", "build-dataset", "index", "train", "eval embed", "eval lvu"]


@pytest.mark.parametrize("command", WRITERS)
def test_every_writer_uses_o_output(command, capsys):
    assert main([*command.split(), "--help"]) == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "--output" in text and "-o" in text, text
    assert not re.search(r"--out\b(?!put)", text), text  # the old spelling is a hidden alias only


def test_old_spelling_is_a_hidden_alias():
    assert _unalias(["train", "--out", "runs/x", "--out=y", "--outside"]) == ["train", "--output", "runs/x",
                                                                              "--output=y", "--outside"]
