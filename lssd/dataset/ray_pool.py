"""``--engine ray``: the same workers as Ray actors, on an embedded local cluster (default) or a real one
(``--ray-address`` / ``RAY_ADDRESS``).

One actor per worker holds its loaded engines (``num_gpus=1/N`` each with ``--workers-per-gpu N`` when the
build uses GPUs); every actor
writes into the shared ``OUT`` and returns the clip's manifest row to the driver, which merges the
manifest. An actor that dies on a clip is reported as a :class:`~lssd.dataset.pool.Crash` of that clip and
replaced, exactly as a local worker process is.
"""

from __future__ import annotations

import os
from typing import Any

from lssd.dataset.gpus import ray_gpus
from lssd.dataset.pool import Crash
from lssd.dataset.worker import ClipWorker, Job, WorkerSpec
from lssd.errors import LssdError


class _Actor:
    def __init__(self, spec: WorkerSpec) -> None:
        self.worker = ClipWorker(spec)

    def run(self, job: Job) -> dict[str, Any]:
        return self.worker.run(job)


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
                ray.init(num_cpus=max(self.size, os.cpu_count() or 1), **kwargs)
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
        for actor in self.actors:
            if actor is not None:
                self.ray.kill(actor)
        if self._started_here:
            self.ray.shutdown()
