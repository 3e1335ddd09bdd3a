"""Probes: the test score is the one at the val-best epoch; seeded runs repeat exactly."""

from __future__ import annotations

import numpy as np
import pytest

from lssd.errors import BadInputError
from lssd.eval.probes import REGRESSION, LinearConfig, MLPGrid, Split, best_epoch, linear_probe, mlp_probe


def blobs(n: int, seed: int, classes: int = 3, dim: int = 8) -> Split:
    """Gaussian clusters around fixed centres (the same centres for every split)."""
    centres = np.random.default_rng(123).normal(0, 3, (classes, dim))
    rng = np.random.default_rng(seed)
    y = rng.integers(classes, size=n) * 10 + 7  # class ids need not be 0..K-1
    x = centres[(y - 7) // 10] + rng.normal(0, 1, (n, dim))
    return Split(x.astype(np.float32), y)


def test_best_epoch_is_the_first_best_on_validation() -> None:
    assert best_epoch([10.0, 30.0, 30.0, 20.0], higher_is_better=True) == 1
    assert best_epoch([0.5, 0.2, 0.3], higher_is_better=False) == 1
    with pytest.raises(BadInputError):
        best_epoch([], True)


def test_linear_probe_separates_blobs_and_is_deterministic() -> None:
    splits = blobs(300, 0), blobs(100, 1), blobs(100, 2)
    config = LinearConfig(epochs=20, batch_size=64)
    first = linear_probe(*splits, config=config)
    assert first.metric == "top1" and first.test > 95.0
    assert first.epochs == 20 and len(first.history) == 20
    again = linear_probe(*splits, config=config)
    assert again.history == first.history


def test_reports_test_at_the_val_best_epoch_not_the_last() -> None:
    """Validation targets are half the training targets: the probe passes through the val optimum on
    its way to the training optimum, so the val-best epoch is in the middle and the last epoch is worse."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=4)
    xs = [rng.normal(size=(n, 4)).astype(np.float32) for n in (256, 128, 128)]
    train, val, test = Split(xs[0], xs[0] @ w), Split(xs[1], 0.5 * xs[1] @ w), Split(xs[2], xs[2] @ w)
    result = linear_probe(train, val, test, REGRESSION, LinearConfig(epochs=60, lr=0.01, momentum=0.0,
                                                                     batch_size=32))
    vals = [v for v, _ in result.history]
    assert result.metric == "mse"
    assert 1 < result.best_epoch < result.epochs
    assert result.val == min(vals) < vals[-1]
    assert result.test == result.history[result.best_epoch - 1][1]
    assert result.test > result.history[-1][1]  # the last epoch fits test better, and is not reported


def test_mlp_probe_picks_a_grid_point_by_validation() -> None:
    splits = blobs(200, 0, dim=4), blobs(80, 1, dim=4), blobs(80, 2, dim=4)
    grid = MLPGrid(hidden_layers=(1,), lrs=(1e-2, 1e-4), hidden_dim=32, max_epochs=30, patience=5, batch_size=64)
    result = mlp_probe(*splits, grid=grid)
    assert result.config["probe"] == "mlp" and result.config["lr"] in (1e-2, 1e-4)
    assert result.test > 90.0
    assert result.epochs <= 30
    assert mlp_probe(*splits, grid=grid).history == result.history


def test_bad_splits_are_one_line_errors() -> None:
    good = blobs(20, 0)
    with pytest.raises(BadInputError, match="val split"):
        linear_probe(good, Split(np.zeros((0, 8)), np.zeros(0)), good)
    one_class = Split(good.x, np.zeros(20, dtype=int))
    with pytest.raises(BadInputError, match="fewer than two classes"):
        linear_probe(one_class, good, good)


def test_tables_print_map_and_top1_on_one_percent_scale():
    """Stored mAP 0.5 and top-1 50.0 (%) are the same score: both tables print 50.00 for each."""
    from lssd.eval.hear_tasks import format_score
    from lssd.eval.modalities import cell
    from lssd.eval.probes import percent

    assert percent(0.5, "mAP") == percent(50.0, "top1") == 50.0
    assert percent(0.25, "mse") == 0.25
    assert format_score(0.5, "mAP") == format_score(50.0, "top1") == "50.00"
    assert cell([0.5], "mAP") == cell([50.0], "top1") == "50.00"
    assert cell([0.4, 0.6], "mAP").split(" ± ")[1] == cell([40.0, 60.0], "top1").split(" ± ")[1]
