"""`lssd models ...` through lssd.cli.main, as a user runs it."""

from __future__ import annotations

import pytest

from lssd.cli import main
from lssd.paths import data_dir
from lssd.store import load_catalog


@pytest.fixture
def real_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "store"))
    return tmp_path / "store"


def test_list_shows_every_model_with_licence_size_and_status(real_store, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert str(real_store) in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    catalog = load_catalog(data_dir("models"))
    assert set(rows) == set(catalog.by_name)
    for entry in catalog.by_name.values():
        row = rows[entry.name]
        assert entry.licence in row and entry.library in row
        status = "bundled" if entry.bundled else "missing"
        assert row.rstrip("│ ").endswith(status), row
        if entry.size:
            assert any(unit in row for unit in (" kB", " MB", " GB")), row
    assert "CC-BY-NC-4.0 (non-commercial)" in rows["seamless-m4t-v2-large"]


def test_list_by_stage(real_store, capsys):
    assert main(["models", "list", "--stage", "separate"]) == 0
    names = {line.split("│")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("│")}
    assert names == {"htdemucs", "mdx_extra", "mdx_extra_q"}


def test_list_marks_a_pulled_model_present(store, capsys):
    store.pull("fake-model", progress=False)
    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "│ fake-model " in line)
    assert "present" in row and "1.1 MB" in row  # 1 MiB + the small files, in decimal units


def test_path_prints_the_model_folder_even_when_missing(real_store, capsys):
    assert main(["models", "path", "htdemucs"]) == 0
    assert capsys.readouterr().out.strip() == str(real_store / "htdemucs")
    assert main(["models", "path", "whisper-large"]) == 0
    assert capsys.readouterr().out.strip() == str(real_store / "whisper-large-v3")


def test_info_shows_source_hashes_and_the_non_commercial_notice(real_store, capsys):
    assert main(["models", "info", "seamless-m4t-v2-large"]) == 0
    out = capsys.readouterr().out
    assert "facebook/seamless-m4t-v2-large @ 86716559dddaa68c515c1d5720752bed4a988d88" in out
    assert "85cab984fbc111f8713827c440499453b9e66f262862866eeed8725c302ba2ac" in out
    assert "NOTICE: seamless-m4t-v2-large" in out and "non-commercial use only" in out
    assert main(["models", "info", "htdemucs"]) == 0
    assert "8726e21a… (prefix)" in capsys.readouterr().out


def test_unknown_name_is_one_line_listing_known_names(real_store, capsys):
    assert main(["models", "pull", "htdemux"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown model 'htdemux'" in err and "whisper-tiny" in err


def test_import_then_verify_then_corrupt(store, tmp_path, capsys):
    src = tmp_path / "usb-stick"
    src.mkdir()
    (src / "free.pt").write_bytes(b"a release asset whose source publishes no checksum\n" * 10)
    assert main(["models", "import", "fake-unpinned", str(src)]) == 0
    assert "1 file(s) imported" in capsys.readouterr().out
    assert main(["models", "verify", "fake-unpinned"]) == 0
    assert "fake-unpinned: ok" in capsys.readouterr().out
    (store.path("fake-unpinned") / "free.pt").write_bytes(b"tampered" * 64)
    assert main(["models", "verify"]) == 1
    captured = capsys.readouterr()
    assert "fake-unpinned: mismatch" in captured.out and "free.pt: mismatch" in captured.out
    assert captured.err.strip() == (
        "error: verification failed for fake-unpinned (mismatch); run `lssd models pull fake-unpinned --force` "
        "or import a good copy."
    )


def test_verify_says_how_each_file_is_pinned(store, tmp_path, capsys):
    from .conftest import PAYLOADS

    src = tmp_path / "usb-stick"
    src.mkdir()
    for name, data in PAYLOADS.items():
        (src / name).write_bytes(data)
    for name in ("fake-model", "fake-unpinned"):
        assert main(["models", "import", name, str(src)]) == 0
    capsys.readouterr()
    assert main(["models", "verify"]) == 0
    lines = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["fake-model"] == (
        "fake-model: ok (pinned: weights.bin, config.json by a full sha256 its source publishes; "
        "sig-prefixed.th by only the sha256 prefix its source publishes)"
    )
    assert lines["fake-unpinned"] == "fake-unpinned: ok (pinned: free.pt by only the sha256 recorded at first install)"


def test_verify_a_named_missing_model_fails(store, capsys):
    assert main(["models", "verify", "fake-model"]) == 1
    captured = capsys.readouterr()
    assert "fake-model: missing" in captured.out and "fake-model (missing)" in captured.err


def test_models_help_lists_the_commands(capsys):
    assert main(["models", "--help"]) == 0
    out = capsys.readouterr().out
    for command in ("list", "info", "path", "pull", "import", "verify"):
        assert command in out
