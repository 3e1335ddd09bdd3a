"""Issue 20, done means 4 (workers): ``--workers-per-gpu`` on a machine faked to have 2 GPUs of 80 GiB —
worker count, GPU pinning, Ray's fractional GPU requests, and the memory-fit refusal in one sentence."""

from __future__ import annotations

import pytest

from lssd.cli import main
from lssd.dataset import gpus
from lssd.dataset.build import BuildOptions, _worker_kwargs
from lssd.dataset.worker import make_config
from tests.dataset.conftest import FAST

GIB = 2**30


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus, "gpu_count", lambda: 2)
    monkeypatch.setattr(gpus, "gpu_memory", lambda index: 80 * GIB)


def test_workers_per_gpu_sets_the_workers_their_gpus_and_threads(two_gpus, tmp_path):
    assert gpus.default_workers("auto", 3, cores=16) == 6 and gpus.default_workers("cpu", 3, cores=16) == 16
    assert [gpus.pinned_env("auto", i)["CUDA_VISIBLE_DEVICES"] for i in range(6)] == ["0", "1"] * 3
    assert gpus.pinned_env("cpu", 0) == {}
    assert gpus.ray_gpus(True, 4, cluster_gpus=2.0) == 0.25 and gpus.ray_gpus(True, 1, 2.0) == 1.0
    assert gpus.ray_gpus(True, 4, cluster_gpus=0.0) == 0.0 and gpus.ray_gpus(False, 4, 2.0) == 0.0
    opts = BuildOptions(root=tmp_path, out_dir=tmp_path, langs=["spa"], cfg_kwargs={}, command="", workers_per_gpu=3)
    assert _worker_kwargs(opts, 6)["threads"] >= 1  # the cores shared out among all 6


def test_pinning_stays_within_the_gpus_the_user_made_visible(two_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # torch counts 2 GPUs: physical 2 and 3
    assert [gpus.pinned_env("auto", i)["CUDA_VISIBLE_DEVICES"] for i in range(4)] == ["2", "3"] * 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-a1, GPU-b2,GPU-c3")  # UUIDs; torch saw the first two
    assert [gpus.pinned_env("auto", i)["CUDA_VISIBLE_DEVICES"] for i in range(2)] == ["GPU-a1", "GPU-b2"]


def test_dry_run_counts_workers_per_gpu(two_gpus, mini_lvu, tmp_path, capsys):
    assert main(["build-dataset", str(mini_lvu.root), "-o", str(tmp_path / "out"), "--langs", "es", "--dry-run",
                 "--workers-per-gpu", "2", *FAST]) == 0
    assert "estimate with 4 workers" in capsys.readouterr().out


def test_models_that_cannot_fit_are_refused_in_one_sentence(two_gpus, monkeypatch, mini_lvu, tmp_path, capsys):
    models = [gpus.ModelUse("seamless-m4t-v2-large", int(4.6 * GIB)), gpus.ModelUse("whisper-large-v3", int(2.9 * GIB))]
    monkeypatch.setattr(gpus, "models_in_use", lambda cfg: models)
    cfg, _ = make_config(["spa"], {})
    assert "4 worker(s) per GPU" in gpus.check_fit(cfg, 4)  # ≈10.3 GiB each: 4 fit in 80 GiB, 8 do not
    with pytest.raises(Exception, match=r"--workers-per-gpu 8: each worker holds ≈10\.3 GiB .* use --workers-per-gpu 7"):
        gpus.check_fit(cfg, 8)
    out = tmp_path / "out"
    code = main(["build-dataset", str(mini_lvu.root), "-o", str(out), "--langs", "es", "--workers-per-gpu", "8", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "more than GPU 0's 80.0 GiB" in err and len(err.strip().splitlines()) <= 2
    assert not (out / "videos").exists()  # refused before any worker started
    assert gpus.check_fit(make_config(["spa"], {"device": "cpu"})[0], 8) is None  # no GPU, nothing to check
