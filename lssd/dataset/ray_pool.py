"""``--engine ray``: the same workers as Ray actors, on an embedded local cluster (default) or a real one
(``--ray-address`` / ``RAY_ADDRESS``).

One actor per worker holds its loaded engines (``num_gpus=1/N`` each with ``--workers-per-gpu N`` when the
build uses GPUs); every actor
writes into the shared ``OUT`` and returns the clip's manifest row to the driver, which merges the
manifest. An actor that dies on a clip is reported as a :class:`~lssd.dataset.pool.Crash` of that clip and
replaced, exactly as a local worker process is.

An embedded cluster is lssd's own: its session files (logs, sockets, spilled objects) live in a temporary
folder the build removes when it ends, instead of ``/tmp/ray``; its token authentication (Ray's default)
stays on, with a token made for this process and handed to the cluster in the environment, so nothing is
written to ``~/.ray``, and Ray's notice that the default is on is dropped. Actors write their output to
``OUT/logs/worker-<pid>.log`` as local workers do. A cluster joined by address keeps its own settings; the
summary's CPU seconds of the actors (start-up and model loading included) come from the actors themselves.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lssd.dataset.gpus import ray_gpus
from lssd.dataset.pool import Crash, log_to_file
from lssd.dataset.worker import ClipWorker, Job, WorkerSpec, process_cpu_seconds
from lssd.errors import LssdError

_TOKEN = secrets.token_hex(32)  # one per builder process: Ray's token loader caches what it read first


class _Actor:
    def __init__(self, spec: WorkerSpec) -> None:
        log_to_file(spec.out_dir)
        self.worker = ClipWorker(spec)

    def run(self, job: Job) -> dict[str, Any]:
        return self.worker.run(job)

    def cpu_seconds(self) -> float:
        """CPU seconds of this actor's process (start-up and model loading included) and its tools."""
        return process_cpu_seconds()


def embedded_cluster_env() -> dict[str, str]:
    """What an embedded cluster gets in its environment: this process's token, which Ray's default token
    authentication then uses instead of making (and saving) one — unless the user chose Ray's
    authentication settings themselves."""
    if any(k in os.environ for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        return {}
    return {"RAY_AUTH_TOKEN": _TOKEN}


class _TokenNotice(logging.Filter):
    """Drops Ray's notice that token authentication is on by default: for lssd's own cluster that is
    the intended setting, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")


_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


class RayPool:
    def __init__(self, specs: list[WorkerSpec], address: str | None, use_gpus: bool, workers_per_gpu: int = 1) -> None:
        try:
            import ray
        except ImportError:
            raise LssdError("--engine ray needs Ray: install lssd with ./install.sh (or pip install 'lssd[ray]')") from None
        self.ray = ray
        self.specs = specs
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.use_gpus = use_gpus
        self.workers_per_gpu = workers_per_gpu
        self.actors: list[Any] = [None] * len(specs)
        self.futures: dict[Any, int] = {}
        self._started_here = False
        self._session_dir: Path | None = None  # the embedded cluster's session files, removed at close
        self._env_before: dict[str, str | None] = {}
        self.cpu_seconds: float | None = None  # the actors' CPU seconds, known once the pool is closed

    @property
    def size(self) -> int:
        return len(self.specs)

    def start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"),) if p)}}
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "runtime_env": env if env["env_vars"]["PYTHONPATH"] else None}
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:  # an embedded cluster sized so every worker gets its CPU
                self._session_dir = Path(tempfile.mkdtemp(prefix="lssd-ray-"))  # short: Ray's sockets live in it
                env = embedded_cluster_env()
                self._env_before = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                notice = _TokenNotice()
                logging.getLogger(_AUTH_LOGGER).addFilter(notice)
                try:
                    ray.init(num_cpus=max(self.size, os.cpu_count() or 1), _temp_dir=str(self._session_dir),
                             logging_level=logging.WARNING, **kwargs)
                finally:
                    logging.getLogger(_AUTH_LOGGER).removeFilter(notice)
            self._started_here = True
        share = ray_gpus(self.use_gpus, self.workers_per_gpu, ray.cluster_resources().get("GPU", 0))
        self.remote = ray.remote(_Actor).options(num_cpus=1, num_gpus=share, max_restarts=0)
        for slot in range(self.size):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        self.actors[slot] = self.remote.remote(self.specs[slot])

    def submit(self, slot: int, job: Job) -> None:
        self.futures[self.actors[slot].run.remote(job)] = slot

    def restart(self, slot: int) -> None:
        self.ray.kill(self.actors[slot], no_restart=True)
        self._spawn(slot)

    def wait(self, busy: set[int], timeout: float) -> list[tuple[int, dict[str, Any] | Crash]]:
        if not self.futures:
            return []
        ready, _ = self.ray.wait(list(self.futures), num_returns=len(self.futures), timeout=timeout)
        out = []
        for future in ready:
            slot = self.futures.pop(future)
            try:
                out.append((slot, self.ray.get(future)))
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError) as err:
                out.append((slot, Crash(f"Ray actor died ({type(err).__name__})")))
            except self.ray.exceptions.RayTaskError as err:  # the worker catches clip errors: this is a bug
                out.append((slot, Crash(f"Ray task failed ({' '.join(str(err).split())[:200]})")))
        return out

    def close(self, kill: bool = False) -> None:
        live = [a for a in self.actors if a is not None]
        if live and not kill:
            self.cpu_seconds = self._actors_cpu(live)
        for actor in live:
            self.ray.kill(actor)
        if self._started_here:
            self.ray.shutdown()
        for key, value in self._env_before.items():  # also after a failed start
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._session_dir is not None:
            shutil.rmtree(self._session_dir, ignore_errors=True)

    def _actors_cpu(self, actors: list[Any]) -> float | None:
        """The actors' CPU seconds (an actor replaced after a crash took its own with it)."""
        try:
            return sum(self.ray.get([a.cpu_seconds.remote() for a in actors], timeout=30))
        except Exception:  # an actor that died at the end: the figure would be wrong, so none
            return None
