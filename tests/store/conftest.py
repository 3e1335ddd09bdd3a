"""Fixtures for the model store: a fake catalog whose files are served from 127.0.0.1 and file:// URLs.

Everything runs offline: the "official source" of each fake entry is a thread-hosted HTTP server on a
random loopback port, with optional Range support so resuming can be tested.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lssd.store import Store, get_store

PAYLOADS = {
    "weights.bin": bytes(range(256)) * 4096,  # 1 MiB, several read chunks
    "config.json": b'{"layers": 2}\n',
    "sig-prefixed.th": b"demucs-like checkpoint whose name carries its hash prefix\n" * 100,
    "free.pt": b"a release asset whose source publishes no checksum\n" * 10,
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Server:
    """What the fake official source holds and what it was asked for."""

    url: str
    files: dict[str, bytes]
    ranges: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before the connection drops


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            rng = self.headers.get("Range")
            server.requests.append((name, rng))
            data = server.files.get(name)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and server.ranges and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                if start >= len(data):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            stop = server.cut_after.get(name, len(data))
            self.wfile.write(data[start:max(stop, start)])

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="", files=dict(PAYLOADS))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def write_entry(catalog: Path, name: str, body: str) -> None:
    (catalog / f"{name}.toml").write_text(body, encoding="utf-8")


def header(name: str, stage: str = "separate", extra: str = "") -> str:
    return f'''name = "{name}"
title = "Fake"
stage = "{stage}"
library = "fakelib"
description = "A fake model served from 127.0.0.1 for the store tests."
licence = "MIT"
licence_url = "https://example.invalid/licence"
non_commercial = false
source = "https://example.invalid/{name}"
{extra}
'''


def file_block(name: str, url: str, *, sha256: str = "", prefix: str = "", size: int = 0) -> str:
    lines = ["[[files]]", f'name = "{name}"', f'url = "{url}"']
    if sha256:
        lines.append(f'sha256 = "{sha256}"')
    if prefix:
        lines.append(f'sha256_prefix = "{prefix}"')
    if size:
        lines.append(f"size = {size}")
    return "\n".join(lines) + "\n\n"


@pytest.fixture
def catalog(tmp_path: Path, server: Server) -> Path:
    """A catalog of fake entries pointing at the server (and one at file://)."""
    cat = tmp_path / "catalog"
    cat.mkdir()
    origin = tmp_path / "origin"
    origin.mkdir()
    for fname, data in PAYLOADS.items():
        (origin / fname).write_bytes(data)
    u = server.url
    w, c, t = (PAYLOADS[k] for k in ("weights.bin", "config.json", "sig-prefixed.th"))
    write_entry(cat, "fake-model", header("fake-model")
                + file_block("weights.bin", f"{u}/weights.bin", sha256=sha(w), size=len(w))
                + file_block("config.json", f"{u}/config.json", sha256=sha(c))
                + file_block("sig-prefixed.th", f"{u}/sig-prefixed.th", prefix=sha(t)[:8]))
    write_entry(cat, "fake-unpinned", header("fake-unpinned", "voice-convert")
                + file_block("free.pt", f"{u}/free.pt"))
    write_entry(cat, "fake-bad", header("fake-bad")
                + file_block("weights.bin", f"{u}/weights.bin", sha256="0" * 64))
    write_entry(cat, "fake-badprefix", header("fake-badprefix")
                + file_block("sig-prefixed.th", f"{u}/sig-prefixed.th", prefix="deadbeef"))
    write_entry(cat, "fake-hf", header("fake-hf", "translate", 'hf_repo = "org/fake"\nhf_revision = "abc123"')
                + file_block("config.json", f"{u}/config.json", sha256=sha(c)))
    write_entry(cat, "fake-file", header("fake-file", "transcribe")
                + file_block("weights.bin", (origin / "weights.bin").as_uri(), sha256=sha(w)))
    write_entry(cat, "fake-needs", header("fake-needs", "voice-convert", 'requires = ["fake-unpinned"]')
                + file_block("config.json", f"{u}/config.json", sha256=sha(c)))
    write_entry(cat, "fake-missing-url", header("fake-missing-url")
                + file_block("nothing.bin", f"{u}/nothing.bin"))
    return cat


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide offline mode themselves, whatever the machine running them sets."""
    for var in ("LSSD_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LSSD_CATALOG_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    return root


@pytest.fixture
def store(catalog: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The fake catalog's store; the CLI sees the same one through the environment."""
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    return get_store(echo=lambda msg: None)
