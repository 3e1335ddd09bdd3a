"""`examples/controlled_experiment.py` end to end at its smallest size: every variant (the untrained
reference included) is trained or written, probed on both tasks, and tabled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "controlled_experiment.py"


@pytest.mark.slow
def test_the_controlled_experiment_tables_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "ce"
    args = [sys.executable, str(SCRIPT), str(out), "--titles", "4", "--shots", "3", "--steps", "2", "--seeds", "0",
            "--per-fold", "1", "--grid-points", "1"]
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=1200)
    table = (out / "table.md").read_text()
    header = table.splitlines()[0]
    for variant in ("untrained", "no-dub", "dub", "SEP"):
        assert f" {variant} " in header, header
    per_seed = json.loads((out / "table.json").read_text())["per_seed"]
    assert set(per_seed) == {"scene", "language"}
    assert all(len(scores) == 1 for task in per_seed.values() for scores in task.values())
    untrained = out / "runs" / "untrained-s0" / "checkpoints"
    assert [p.name for p in untrained.iterdir()] == ["step_00000000.pt"]  # never trained: the initial weights
