"""Linear and MLP probes on frozen embeddings, reported at the epoch that is best on validation.

Written in torch rather than scikit-learn: the paper's linear probe is SGD with a cosine-annealed
learning rate for a fixed number of epochs with a per-epoch validation pick (App. B.3.1), which
sklearn's estimators do not expose (``SGDClassifier`` has no cosine schedule and no per-epoch test
score); the same code runs on a GPU for large tasks; and torch is already a dependency.

* Linear (LVU, App. B.3.1): SGD, lr 0.2, cosine to 0, 200 epochs, batch 1024. Momentum 0.9 and no
  weight decay are our choice (the paper gives neither).
* MLP (hear-eval-kit's scene predictor, ``heareval/predictions/task_predictions.py``): a grid over
  1-2 hidden layers of 1024 (Linear, BatchNorm, dropout 0.1, ReLU; Xavier weights with the gain of
  the preceding activation) x Adam learning rates 3.2e-3..1e-4 (x Xavier uniform/normal in
  :data:`HEAR_GRID`), up to 500 epochs with early stopping (patience 20 validation checks); the
  configuration best on validation is reported. :data:`HEAR_GRID` is the kit's default exactly: no
  input standardisation, validation every 3 epochs, a seeded random 8 of its 16 grid points.

Three kinds of target: ``classification`` (one class per example: softmax + cross-entropy, scored by
top-1 %), ``multilabel`` (a 0/1 matrix, zero or more labels per example: sigmoid + binary
cross-entropy, scored by mAP, the macro mean of per-class average precision, as HEAR scores FSD50K
and Vocal Imitation) and ``regression``. The selected model's test ``scores`` hold every metric of
its kind (top-1 and mAP for classification, mAP for multi-label), computed from the val-best weights;
mAP is scikit-learn's ``average_precision_score(average="macro")``, the function hear-eval-kit
calls, over the classes that have a positive test example. The val-best check's test outputs are
kept (the test split is scored at every check anyway), so no weights are copied.

Inputs are standardised with the training split's mean and deviation (a fixed affine map: it does not
change what a probe can express, only how SGD at lr 0.2 behaves on embeddings of any scale). For
regression they are also divided by sqrt(D): the trace of their covariance is then 1, so its largest
eigenvalue is at most 1 and SGD on the squared error is stable at lr 0.2 for any width (unscaled, a
128-d input already diverged); cross-entropy needs no such bound. Classification is scored by top-1
accuracy (%), regression (LVU's like ratio and view count) by MSE. Everything is seeded:
the same inputs give the same numbers on a CPU.

Units, as stored in ``scores`` and every results JSON: top-1 in percent (0-100), mAP as a fraction
(0-1, scikit-learn's value), MSE in the target's own units. Tables print top-1 and mAP alike in percent
through :func:`percent` (the one place mAP is scaled).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lssd.errors import BadInputError

CLASSIFICATION, MULTILABEL, REGRESSION = "classification", "multilabel", "regression"
KINDS = (CLASSIFICATION, MULTILABEL, REGRESSION)
METRICS = {CLASSIFICATION: ("top1", "mAP"), MULTILABEL: ("mAP",), REGRESSION: ("mse",)}
FRACTION_METRICS = frozenset({"mAP"})  # stored 0-1; top1 is stored in percent already


def percent(value: float, metric: str) -> float:
    """A stored score on the scale tables print: mAP (a fraction) x100, top-1 (already %) and MSE as they are."""
    return value * 100.0 if metric in FRACTION_METRICS else value


@dataclass(frozen=True)
class Split:
    """Features (N, D) and targets: (N,) class ids (any integers) or real values, or an (N, K) 0/1
    matrix for multi-label tasks (column k = label k, the same columns in every split)."""

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
    inits: tuple[str, ...] = ("xavier_uniform",)  # torch.nn.init.<name>_
    hidden_dim: int = 1024
    dropout: float = 0.1
    max_epochs: int = 500
    patience: int = 20  # validation checks without a better score before stopping
    check_every: int = 1  # epochs between validation checks
    batch_size: int = 1024
    standardize: bool = True  # train-split mean/std on the inputs (hear-eval-kit feeds them raw)
    grid_points: int | None = None  # a seeded random subset of the grid (None: all of it)
    seed: int = 0

    def points(self) -> list[tuple[int, float, str]]:
        """(hidden layers, lr, init) to try, in order: all of them, or ``grid_points`` drawn at random
        (seeded), as hear-eval-kit's randomized grid search does."""
        confs = list(itertools.product(self.hidden_layers, self.lrs, self.inits))
        if self.grid_points is not None and self.grid_points < len(confs):
            random.Random(self.seed).shuffle(confs)
            confs = confs[:self.grid_points]
        return confs


# hear-eval-kit's default PARAM_GRID (and its runner's --grid-points 8).
HEAR_GRID = MLPGrid(inits=("xavier_uniform", "xavier_normal"), check_every=3, standardize=False, grid_points=8)


@dataclass
class ProbeResult:
    """``test`` is the test score at ``best_epoch`` (1-based), the epoch best on validation;
    ``scores`` every test metric of that model; ``history`` (val, test) at each validation check
    (every ``check_every`` epochs)."""

    kind: str  # classification | multilabel | regression
    metric: str  # top1 | mAP (higher is better) | mse (lower is better)
    val: float
    test: float
    best_epoch: int
    epochs: int
    n_train: int
    n_val: int
    n_test: int
    config: dict[str, Any]
    history: list[tuple[float, float]] = field(default_factory=list)  # (val, test) per check
    scores: dict[str, float] = field(default_factory=dict)  # metric → test score of the val-best model
    check_every: int = 1
    test_predictions: np.ndarray | None = field(default=None, repr=False, compare=False)  # its probabilities

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("test_predictions")
        return out


def best_epoch(val_scores: list[float], higher_is_better: bool) -> int:
    """Index of the best validation score; the earliest on ties (fewer epochs, same evidence)."""
    if not val_scores:
        raise BadInputError("no epoch was evaluated")
    scores = np.asarray(val_scores, dtype=np.float64)
    return int(np.argmax(scores) if higher_is_better else np.argmin(scores))


def linear_probe(train: Split, val: Split, test: Split, kind: str = CLASSIFICATION,
                 config: LinearConfig = LinearConfig(), device: str | torch.device = "cpu",
                 metric: str | None = None) -> ProbeResult:
    """A linear layer trained by SGD with a cosine schedule; every epoch scored on val and test
    (by ``metric``, default the kind's first: top1, mAP or mse)."""
    data = _Prepared(train, val, test, kind, device, metric=metric)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = nn.Linear(data.dim, data.outputs).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay)
        steps = config.epochs * math.ceil(data.n_train / config.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        fit = _fit(model, opt, sched, data, config.epochs, config.batch_size, config.seed, None)
    return data.result(fit, asdict(config) | {"probe": "linear"})


def mlp_probe(train: Split, val: Split, test: Split, kind: str = CLASSIFICATION, grid: MLPGrid = MLPGrid(),
              device: str | torch.device = "cpu", metric: str | None = None) -> ProbeResult:
    """HEAR-style MLP probes over a grid; the one best on validation is reported."""
    return mlp_fit(prepare(train, val, test, kind, device, grid.standardize, metric), grid, grid.points())


def prepare(train: Split, val: Split, test: Split, kind: str = CLASSIFICATION, device: str | torch.device = "cpu",
            standardize: bool = True, metric: str | None = None) -> _Prepared:
    """The splits as tensors with their scoring rule, for :func:`mlp_fit` (a grid search on one
    split, then the chosen point on others, as HEAR does across folds)."""
    return _Prepared(train, val, test, kind, device, standardize, metric)


def mlp_fit(data: _Prepared, grid: MLPGrid, points: list[tuple[int, float, str]]) -> ProbeResult:
    """The best on validation of ``points`` (hidden layers, lr, init); the earliest on ties."""
    best: ProbeResult | None = None
    for layers, lr, init in points:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(grid.seed)
            model = _mlp(data.dim, data.outputs, layers, grid.hidden_dim, grid.dropout, init).to(data.device)
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            fit = _fit(model, opt, None, data, grid.max_epochs, grid.batch_size, grid.seed, grid.patience,
                       grid.check_every)
        config = {"probe": "mlp", "hidden_layers": layers, "lr": lr, "init": init, "hidden_dim": grid.hidden_dim,
                  "dropout": grid.dropout, "max_epochs": grid.max_epochs, "patience": grid.patience,
                  "check_every": grid.check_every, "batch_size": grid.batch_size,
                  "standardize": grid.standardize, "seed": grid.seed}
        result = data.result(fit, config)
        if best is None or data.better(result.val, best.val):
            best = result
    if best is None:
        raise BadInputError("the MLP grid is empty")
    return best


def _mlp(dim: int, outputs: int, layers: int, hidden: int, dropout: float, init: str) -> nn.Sequential:
    """hear-eval-kit's FullyConnectedPrediction: Xavier weights with the gain of the activation
    before each layer (linear for the input, ReLU after a hidden layer), torch's default biases."""
    initialise = getattr(nn.init, f"{init}_", None)
    if init not in ("xavier_uniform", "xavier_normal") or initialise is None:
        raise BadInputError(f"MLP init must be xavier_uniform or xavier_normal, got {init!r}")
    modules: list[nn.Module] = []
    gain = nn.init.calculate_gain("linear")
    for _ in range(layers):
        linear = nn.Linear(dim, hidden)
        initialise(linear.weight, gain=gain)
        modules += [linear, nn.BatchNorm1d(hidden), nn.Dropout(dropout), nn.ReLU()]
        dim, gain = hidden, nn.init.calculate_gain("relu")
    head = nn.Linear(dim, outputs)
    initialise(head.weight, gain=gain)
    modules.append(head)
    return nn.Sequential(*modules)


class _Prepared:
    """Tensors of the three splits (standardised on train unless told not to), class ids mapped to
    0..K-1, and the scoring rule."""

    def __init__(self, train: Split, val: Split, test: Split, kind: str, device: str | torch.device,
                 standardize: bool = True, metric: str | None = None) -> None:
        if kind not in KINDS:
            raise BadInputError(f"probe kind must be one of {', '.join(KINDS)}, got {kind!r}")
        for name, split in (("train", train), ("val", val), ("test", test)):
            if len(split.x) == 0 or len(split.x) != len(split.y) or np.asarray(split.x).ndim != 2:
                raise BadInputError(f"the {name} split needs (N, D) features and N targets with N > 0")
        self.kind, self.device = kind, device
        x_train = np.asarray(train.x, dtype=np.float64)
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std[std < 1e-8] = 1.0
        if kind == REGRESSION:
            std = std * math.sqrt(x_train.shape[1])
        if not standardize:
            mean, std = np.zeros_like(mean), np.ones_like(std)
        self.x = [torch.as_tensor(((np.asarray(s.x, np.float64) - mean) / std).astype(np.float32), device=device)
                  for s in (train, val, test)]
        if kind == CLASSIFICATION:
            classes = np.unique(np.concatenate([np.asarray(s.y) for s in (train, val, test)]))
            if len(np.unique(train.y)) < 2:
                raise BadInputError("the train split has fewer than two classes")
            self.y = [torch.as_tensor(np.searchsorted(classes, np.asarray(s.y)), dtype=torch.int64, device=device)
                      for s in (train, val, test)]
            self.outputs, self.metric, self.higher = len(classes), "top1", True
            self.loss: nn.Module = nn.CrossEntropyLoss()
        elif kind == MULTILABEL:
            shapes = {np.asarray(s.y).shape[1:] for s in (train, val, test)}
            if len(shapes) != 1 or len(next(iter(shapes))) != 1:
                raise BadInputError("multi-label targets must be (N, K) 0/1 matrices with the same K in every split")
            self.y = [torch.as_tensor(np.asarray(s.y, np.float32), device=device) for s in (train, val, test)]
            self.outputs, self.metric, self.higher = next(iter(shapes))[0], "mAP", True
            self.loss = nn.BCEWithLogitsLoss()
        else:
            self.y = [torch.as_tensor(np.asarray(s.y, np.float32), device=device)[:, None] for s in (train, val, test)]
            self.outputs, self.metric, self.higher = 1, "mse", False
            self.loss = nn.MSELoss()
        if metric is not None:  # select on another metric of this kind (HEAR's Vocal Imitation: mAP)
            if metric not in METRICS[kind]:
                raise BadInputError(f"a {kind} probe is scored by {' or '.join(METRICS[kind])}, not {metric!r}")
            self.metric = metric
        self.dim = self.x[0].shape[1]
        self.n_train = len(train.x)
        self.sizes = (len(train.x), len(val.x), len(test.x))

    @torch.no_grad()
    def outputs_of(self, model: nn.Module, split: int) -> torch.Tensor:
        model.eval()
        out = model(self.x[split])
        model.train()
        return out

    def score(self, model: nn.Module, split: int) -> float:
        return self.scores(self.outputs_of(model, split), split, primary_only=True)[self.metric]

    def scores(self, out: torch.Tensor, split: int, primary_only: bool = False) -> dict[str, float]:
        """Every metric of this kind (or only the selection metric) for the logits ``out`` on ``split``."""
        y = self.y[split]
        if self.kind == CLASSIFICATION:
            scores = {"top1": float((out.argmax(dim=1) == y).float().mean()) * 100.0}
            if not primary_only or self.metric == "mAP":
                onehot = nn.functional.one_hot(y, self.outputs).cpu().numpy()
                scores["mAP"] = mean_average_precision(onehot, self.probabilities(out))
            return scores
        if self.kind == MULTILABEL:
            return {"mAP": mean_average_precision(y.cpu().numpy(), self.probabilities(out))}
        return {"mse": float(((out - y) ** 2).mean())}

    def probabilities(self, out: torch.Tensor) -> np.ndarray:
        """Class probabilities of logits (softmax, or a sigmoid per label); regression values as they are."""
        if self.kind == CLASSIFICATION:
            out = out.softmax(dim=1)
        elif self.kind == MULTILABEL:
            out = out.sigmoid()
        return out.cpu().numpy()

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher else a < b

    def result(self, fit: _Fit, config: dict[str, Any]) -> ProbeResult:
        k = best_epoch([v for v, _ in fit.history], self.higher)
        return ProbeResult(self.kind, self.metric, fit.history[k][0], fit.history[k][1],
                           (k + 1) * fit.check_every, fit.epochs, *self.sizes, config, fit.history,
                           self.scores(fit.best_test_outputs, 2), fit.check_every,
                           self.probabilities(fit.best_test_outputs))


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Macro mean of per-class average precision (scikit-learn's, as hear-eval-kit scores), over the
    classes with at least one positive (average precision is undefined without one); 0-1."""
    from sklearn.metrics import average_precision_score

    targets = np.asarray(targets)
    present = targets.sum(axis=0) > 0
    if not present.any():
        return float("nan")
    return float(average_precision_score(targets[:, present], np.asarray(scores)[:, present], average="macro"))


@dataclass
class _Fit:
    history: list[tuple[float, float]]  # (val, test) per validation check
    epochs: int
    check_every: int
    best_test_outputs: torch.Tensor  # the val-best check's logits on test


def _fit(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, data: _Prepared, epochs: int,
         batch_size: int, seed: int, patience: int | None, check_every: int = 1) -> _Fit:
    """Train for ``epochs`` (or until ``patience`` checks pass without a better val score), scoring
    val and test every ``check_every`` epochs and keeping the weights of the val-best check."""
    gen = torch.Generator().manual_seed(seed)
    x, y = data.x[0], data.y[0]
    history: list[tuple[float, float]] = []
    best, best_out, since, done = None, None, 0, 0
    model.train()
    for epoch in range(1, epochs + 1):
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
        done = epoch
        if epoch % check_every:
            continue
        val = data.score(model, 1)
        test_out = data.outputs_of(model, 2)
        history.append((val, data.scores(test_out, 2)[data.metric]))
        if best is None or data.better(val, best):
            best, best_out, since = val, test_out, 0
        else:
            since += 1
            if patience is not None and since >= patience:
                break
    if best_out is None:
        raise BadInputError(f"no validation check in {epochs} epochs (checks every {check_every})")
    return _Fit(history, done, check_every, best_out)
