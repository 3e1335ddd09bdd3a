"""Linear and MLP probes on frozen embeddings, reported at the epoch that is best on validation.

Written in torch rather than scikit-learn: the paper's linear probe is SGD with a cosine-annealed
learning rate for a fixed number of epochs with a per-epoch validation pick (App. B.3.1), which
sklearn's estimators do not expose (``SGDClassifier`` has no cosine schedule and no per-epoch test
score); the same code runs on a GPU for large tasks; and torch is already a dependency.

* Linear (LVU, App. B.3.1): SGD, lr 0.2, cosine to 0, 200 epochs, batch 1024. Momentum 0.9 and no
  weight decay are our choice (the paper gives neither).
* MLP (HEAR's downstream recipe): a grid over 1-2 hidden layers of 1024 (BatchNorm, dropout 0.1,
  ReLU) x Adam learning rates 3.2e-3..1e-4, up to 500 epochs with early stopping (patience 20);
  the configuration best on validation is reported.

Inputs are standardised with the training split's mean and deviation (a fixed affine map: it does not
change what a probe can express, only how SGD at lr 0.2 behaves on embeddings of any scale). For
regression they are also divided by sqrt(D): the trace of their covariance is then 1, so its largest
eigenvalue is at most 1 and SGD on the squared error is stable at lr 0.2 for any width (unscaled, a
128-d input already diverged); cross-entropy needs no such bound. Classification is scored by top-1
accuracy (%), regression (LVU's like ratio and view count) by MSE. Everything is seeded:
the same inputs give the same numbers on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lssd.errors import BadInputError

CLASSIFICATION, REGRESSION = "classification", "regression"


@dataclass(frozen=True)
class Split:
    """Features (N, D) and targets (N,): class ids (any integers) or real values."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class LinearConfig:
    epochs: int = 200
    lr: float = 0.2
    batch_size: int = 1024
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class MLPGrid:
    hidden_layers: tuple[int, ...] = (1, 2)
    lrs: tuple[float, ...] = (3.2e-3, 1e-3, 3.2e-4, 1e-4)
    hidden_dim: int = 1024
    dropout: float = 0.1
    max_epochs: int = 500
    patience: int = 20  # epochs without a better validation score before stopping
    batch_size: int = 1024
    seed: int = 0


@dataclass
class ProbeResult:
    """``test`` is the test score at ``best_epoch`` (1-based), the epoch best on validation."""

    kind: str  # classification | regression
    metric: str  # top1 (higher is better) | mse (lower is better)
    val: float
    test: float
    best_epoch: int
    epochs: int
    n_train: int
    n_val: int
    n_test: int
    config: dict[str, Any]
    history: list[tuple[float, float]] = field(default_factory=list)  # (val, test) per epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_epoch(val_scores: list[float], higher_is_better: bool) -> int:
    """Index of the best validation score; the earliest on ties (fewer epochs, same evidence)."""
    if not val_scores:
        raise BadInputError("no epoch was evaluated")
    scores = np.asarray(val_scores, dtype=np.float64)
    return int(np.argmax(scores) if higher_is_better else np.argmin(scores))


def linear_probe(train: Split, val: Split, test: Split, kind: str = CLASSIFICATION,
                 config: LinearConfig = LinearConfig(), device: str | torch.device = "cpu") -> ProbeResult:
    """A linear layer trained by SGD with a cosine schedule; every epoch scored on val and test."""
    data = _Prepared(train, val, test, kind, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = nn.Linear(data.dim, data.outputs).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay)
        steps = config.epochs * math.ceil(data.n_train / config.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        history = _fit(model, opt, sched, data, config.epochs, config.batch_size, config.seed, None)
    return data.result(history, asdict(config) | {"probe": "linear"})


def mlp_probe(train: Split, val: Split, test: Split, kind: str = CLASSIFICATION, grid: MLPGrid = MLPGrid(),
              device: str | torch.device = "cpu") -> ProbeResult:
    """HEAR-style MLP probes over a small grid; the one best on validation is reported."""
    data = _Prepared(train, val, test, kind, device)
    best: ProbeResult | None = None
    for layers in grid.hidden_layers:
        for lr in grid.lrs:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(grid.seed)
                model = _mlp(data.dim, data.outputs, layers, grid.hidden_dim, grid.dropout).to(device)
                opt = torch.optim.Adam(model.parameters(), lr=lr)
                history = _fit(model, opt, None, data, grid.max_epochs, grid.batch_size, grid.seed, grid.patience)
            config = {"probe": "mlp", "hidden_layers": layers, "lr": lr, "hidden_dim": grid.hidden_dim,
                      "dropout": grid.dropout, "max_epochs": grid.max_epochs, "patience": grid.patience,
                      "batch_size": grid.batch_size, "seed": grid.seed}
            result = data.result(history, config)
            if best is None or data.better(result.val, best.val):
                best = result
    assert best is not None
    return best


def _mlp(dim: int, outputs: int, layers: int, hidden: int, dropout: float) -> nn.Sequential:
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.Dropout(dropout), nn.ReLU()]
        dim = hidden
    modules.append(nn.Linear(dim, outputs))
    for m in modules:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return nn.Sequential(*modules)


class _Prepared:
    """Standardised tensors of the three splits, class ids mapped to 0..K-1, and the scoring rule."""

    def __init__(self, train: Split, val: Split, test: Split, kind: str, device: str | torch.device) -> None:
        if kind not in (CLASSIFICATION, REGRESSION):
            raise BadInputError(f"probe kind must be {CLASSIFICATION} or {REGRESSION}, got {kind!r}")
        for name, split in (("train", train), ("val", val), ("test", test)):
            if len(split.x) == 0 or len(split.x) != len(split.y) or np.asarray(split.x).ndim != 2:
                raise BadInputError(f"the {name} split needs (N, D) features and N targets with N > 0")
        self.kind = kind
        x_train = np.asarray(train.x, dtype=np.float64)
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std[std < 1e-8] = 1.0
        if kind == REGRESSION:
            std = std * math.sqrt(x_train.shape[1])
        self.x = [torch.as_tensor(((np.asarray(s.x, np.float64) - mean) / std).astype(np.float32), device=device)
                  for s in (train, val, test)]
        if kind == CLASSIFICATION:
            classes = np.unique(np.concatenate([np.asarray(s.y) for s in (train, val, test)]))
            if len(np.unique(train.y)) < 2:
                raise BadInputError("the train split has fewer than two classes")
            self.y = [torch.as_tensor(np.searchsorted(classes, np.asarray(s.y)), dtype=torch.int64, device=device)
                      for s in (train, val, test)]
            self.outputs, self.metric, self.higher = len(classes), "top1", True
            self.loss = nn.CrossEntropyLoss()
        else:
            self.y = [torch.as_tensor(np.asarray(s.y, np.float32), device=device)[:, None] for s in (train, val, test)]
            self.outputs, self.metric, self.higher = 1, "mse", False
            self.loss = nn.MSELoss()
        self.dim = self.x[0].shape[1]
        self.n_train = len(train.x)
        self.sizes = (len(train.x), len(val.x), len(test.x))

    @torch.no_grad()
    def score(self, model: nn.Module, split: int) -> float:
        model.eval()
        out = model(self.x[split])
        model.train()
        if self.kind == CLASSIFICATION:
            return float((out.argmax(dim=1) == self.y[split]).float().mean()) * 100.0
        return float(((out - self.y[split]) ** 2).mean())

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher else a < b

    def result(self, history: list[tuple[float, float]], config: dict[str, Any]) -> ProbeResult:
        k = best_epoch([v for v, _ in history], self.higher)
        return ProbeResult(self.kind, self.metric, history[k][0], history[k][1], k + 1, len(history),
                           *self.sizes, config, history)


def _fit(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, data: _Prepared, epochs: int,
         batch_size: int, seed: int, patience: int | None) -> list[tuple[float, float]]:
    """Train for ``epochs`` (or until ``patience`` epochs pass without a better val score)."""
    gen = torch.Generator().manual_seed(seed)
    x, y = data.x[0], data.y[0]
    history: list[tuple[float, float]] = []
    best, since = None, 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(data.n_train, generator=gen).to(x.device)
        for i in range(0, data.n_train, batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2 and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
                continue  # BatchNorm cannot normalise a batch of one
            opt.zero_grad(set_to_none=True)
            data.loss(model(x[idx]), y[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
        val, test = data.score(model, 1), data.score(model, 2)
        history.append((val, test))
        if patience is not None:
            if best is None or data.better(val, best):
                best, since = val, 0
            else:
                since += 1
                if since >= patience:
                    break
    return history
