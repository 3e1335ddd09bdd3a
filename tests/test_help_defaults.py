"""Issue 20 (help text): a ``[default: …]`` written into an option's help survives Rich markup in every
command's ``--help`` (unescaped, Rich took it for a style tag and printed "Workers ." instead)."""

from __future__ import annotations

import click
import typer.main
from rich.text import Text

from lssd.cli import app


def commands(group: click.Command, path: str = "lssd"):
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_every_written_default_survives_rich_markup():
    checked = 0
    for path, command in commands(typer.main.get_command(app)):
        for param in command.params:
            text = getattr(param, "help", None) or ""
            if "[default" not in text:
                continue
            checked += 1
            shown = Text.from_markup(text).plain  # how Typer's rich help renders it
            assert "[default:" in shown, f"{path} {param.opts[0]}: {text!r} shows as {shown!r}"
    assert checked >= 7
