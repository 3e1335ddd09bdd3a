"""Hostile weights files: pickles whose loading would create a marker file, in each model format lssd reads."""

from __future__ import annotations

from pathlib import Path

import pytest


class WritesMarker:
    """Unpickled, this calls ``open(marker, "w")``: the file appearing is proof that code from a file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


class ExecsMarker(WritesMarker):
    """The same through ``exec``, as a real attack would (any code at all)."""

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.fixture(params=[WritesMarker, ExecsMarker], ids=["open", "exec"])
def payload(request, tmp_path: Path):
    """(a picklable object whose unpickling writes the marker, the marker path)."""
    marker = tmp_path / "MARKER-code-ran"
    return request.param(marker), marker


def save(obj: object, path: Path) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def assert_refused(message: str, file_name: str, marker: Path) -> None:
    """One sentence, naming the file and the call it asked for; and nothing ran."""
    assert not marker.exists(), "code from the weights file ran"
    assert "\n" not in message.strip() and "Traceback" not in message, message
    assert file_name in message and "was refused" in message, message
    assert "weights_only" not in message, message  # never torch's advice to retry unsafely
