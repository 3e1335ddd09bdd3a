"""A download cut short (the server announced more bytes than arrived) is never installed: it stays a
``.part`` file and the next pull resumes it; a complete download that hashes wrong is still a mismatch."""

from __future__ import annotations

import pytest

from lssd.cli import main
from lssd.store import ChecksumError, DownloadError
from lssd.store.manifest import MANIFEST

from .conftest import PAYLOADS, sha

CUT = 300_000


def _part(model_dir, model: str, name: str):
    return model_dir / model / f"{name}.part"


def test_cut_pinned_download_stays_a_part_and_resumes(store, model_dir, server):
    server.cut_after["weights.bin"] = CUT
    with pytest.raises(DownloadError) as err:
        store.pull("fake-model", progress=False)
    message = str(err.value)
    assert f"stopped after {CUT} of {len(PAYLOADS['weights.bin'])} bytes" in message and "resume" in message
    assert "\n" not in message and "sha256" not in message  # a cut is not reported as a hash mismatch
    assert _part(model_dir, "fake-model", "weights.bin").stat().st_size == CUT
    assert not (model_dir / "fake-model" / "weights.bin").exists()
    assert not (model_dir / "fake-model" / MANIFEST).exists() and not store.is_present("fake-model")

    server.cut_after.clear()
    store.pull("fake-model", progress=False)
    assert ("weights.bin", f"bytes={CUT}-") in server.requests
    assert (model_dir / "fake-model" / "weights.bin").read_bytes() == PAYLOADS["weights.bin"]
    assert not list((model_dir / "fake-model").glob("*.part"))
    assert store.verify("fake-model").ok


def test_cut_unpinned_download_is_not_installed_and_verifies_after_resuming(store, model_dir, server):
    data = PAYLOADS["free.pt"]
    server.cut_after["free.pt"] = len(data) // 3
    with pytest.raises(DownloadError):
        store.pull("fake-unpinned", progress=False)
    assert not (model_dir / "fake-unpinned" / "free.pt").exists()
    assert store.status("fake-unpinned") == "missing"
    server.cut_after.clear()
    store.pull("fake-unpinned", progress=False)
    assert (model_dir / "fake-unpinned" / "free.pt").read_bytes() == data
    assert store.provenance("fake-unpinned")["files"] == {"free.pt": sha(data)}


def test_cut_connection_repeated_keeps_growing_the_same_part(store, model_dir, server):
    size = len(PAYLOADS["weights.bin"])
    for cut in (CUT, 2 * CUT):
        server.cut_after["weights.bin"] = cut
        with pytest.raises(DownloadError):
            store.pull("fake-model", progress=False)
        assert _part(model_dir, "fake-model", "weights.bin").stat().st_size == cut
    server.cut_after.clear()
    store.pull("fake-model", progress=False)
    assert ("weights.bin", f"bytes={CUT}-") in server.requests and ("weights.bin", f"bytes={2 * CUT}-") in server.requests
    assert (model_dir / "fake-model" / "weights.bin").stat().st_size == size


def test_complete_download_with_the_wrong_hash_is_still_a_mismatch(store, model_dir, server):
    part = _part(model_dir, "fake-model", "weights.bin")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\xff" * CUT)  # a resumed file whose first bytes are not the real ones
    with pytest.raises(ChecksumError):
        store.pull("fake-model", progress=False)
    assert ("weights.bin", f"bytes={CUT}-") in server.requests
    assert not part.exists() and not (model_dir / "fake-model" / "weights.bin").exists()


def test_cut_download_through_the_cli_is_one_line(store, server, capsys):
    server.cut_after["weights.bin"] = CUT
    assert main(["models", "pull", "fake-model", "--no-progress"]) == DownloadError.exit_code
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "run the same command again to resume" in errors[0]
