"""Training recipes: YAML files in ``recipes/`` (Table 1, App. A and App. B.3), read into dataclasses.

A recipe may ``inherit:`` another (by name, or a path relative to it); mappings merge key by key.
Overrides use dotted keys with YAML-typed values (``optim.lr=1e-3``, ``model.video=null``). Unknown
keys and ill-typed values are one-line :class:`BadInputError` s, so a typo never trains silently.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lssd.errors import BadInputError
from lssd.paths import data_dir
from lssd.train.augment import AudioConfig, VideoConfig
from lssd.train.device_decode import DECODE_CHOICES


@dataclass
class ModelConfig:
    video: str | None = "mvit_s"  # None: audio-only (App. B.3 AUD, AUD+EFJ)
    audio: str = "audio_mvit_s"
    embed_dim: int = 512
    separate_audio_heads: bool = False  # App. B.3: own MLPs for primary and secondary audio


@dataclass
class LossConfig:
    tau: float = 0.07
    lambda_v: float = 0.0
    lambda_a: float = 0.0
    cross_modal: bool = True  # False: optimise L_a only (audio-only variants)
    reduction: str = "sum"  # Eq. 2-3 as written; "mean" divides by the global batch size


@dataclass
class DataConfig:
    original_languages: list[str] | None = None  # keep titles originally in these ("ESF")
    exclude_languages: list[str] | None = None  # drop titles originally in these ("all but EN")
    dubbed_only: bool = False  # titles with at least two audio languages
    has_languages: list[str] | None = None  # titles that have all of these tracks
    policy: str = "random"  # a_s language: random | none | fixed:<lang> | round_robin:<l>,<l>
    secondary: bool = True  # False: one (v, a) pair per shot, no secondary instance (App. B.3 SEP)
    allow_pseudo: bool = False  # let dub policies pick pseudo-text tracks (lssd labels them: not translations)
    control: str | None = None  # a_s is this control track (lssd's addition): resynth | novc[:lang] | natural[:lang] | background
    primary: str | None = None  # a_p language; None: each title's original
    window: float = 3.0  # seconds per instance
    batch_size: int = 64  # per GPU
    group_size: int | None = 8  # shots per title in a batch (1/8 of 64)
    num_workers: int = 8
    decode: str = "auto"  # shard frames: auto (on the GPU when training on one) | cpu (loader workers) | device
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)


@dataclass
class OptimConfig:
    """AdamW, linear warm-up then half-cosine to 0. Give ``epochs``, ``steps`` or ``match_steps`` (as
    many optimiser steps, and warm-up steps, as that recipe makes on its own data from the same index
    and setup: §5.2 trains B.1 and B.2 for about B.3's steps), and the warm-up in the unit given."""

    lr: float = 3e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    epochs: float | None = 12
    warmup_epochs: float = 2
    steps: int | None = None
    warmup_steps: int = 0
    match_steps: str | None = None


@dataclass
class TrainConfig:
    seed: int = 0
    precision: str = "bf16"  # bf16 autocast on GPU; CPUs always run fp32
    ckpt_every: int = 1000  # steps
    keep_checkpoints: int = 3
    log_every: int = 50  # steps
    accum_freq: int = 1  # micro-batches per step; the contrastive batch is all of them (lssd train --accum-freq)
    sync_bn: bool = False  # batch norm over all ranks' micro-batches (SyncBatchNorm; DDP on GPUs only)


@dataclass
class Recipe:
    name: str = ""
    description: str = ""
    init: str | None = None  # recipe whose final checkpoint this one starts from
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def recipe_dir() -> Path:
    return data_dir("recipes")


def list_recipes() -> list[tuple[str, str]]:
    """(name, description) of every recipe file; files starting with ``_`` are bases, not listed."""
    out = []
    for path in sorted(recipe_dir().glob("*.yaml")):
        if not path.name.startswith("_"):
            out.append((path.stem, str(_read_merged(path).get("description", ""))))
    return out


def load_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """A recipe by name (``b4``) or path, with ``key=value`` overrides applied last."""
    path = _find(name_or_path)
    raw = _read_merged(path)
    raw.setdefault("name", path.stem)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"override {item!r} is not key=value")
        _set_dotted(raw, key.strip(), yaml.safe_load(value) if value.strip() else None)
    recipe = _build(Recipe, raw, "")
    _check(recipe)
    return recipe


def from_dict(raw: dict[str, Any]) -> Recipe:
    """A recipe from plain data (what :func:`to_dict` wrote into a checkpoint)."""
    recipe = _build(Recipe, raw, "")
    _check(recipe)
    return recipe


def to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain data (for ``recipes show``, checkpoints and the run directory's ``recipe.yaml``)."""
    return _plain(dataclasses.asdict(recipe))


def dump(recipe: Recipe) -> str:
    return yaml.safe_dump(to_dict(recipe), sort_keys=False)


# --------------------------------------------------------------------------------------- internals

def _find(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise BadInputError(f"recipe file {path} does not exist")
        return path
    path = recipe_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(n for n, _ in list_recipes())
        raise BadInputError(f"unknown recipe {name_or_path!r}; known: {names}")
    return path


def _read_merged(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path.resolve() in seen:
        raise BadInputError(f"recipe {path.name} inherits from itself")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise BadInputError(f"recipe {path.name} is not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise BadInputError(f"recipe {path.name} must be a mapping")
    base = raw.pop("inherit", None)
    if base is None:
        return raw
    base_path = path.parent / (base if str(base).endswith((".yaml", ".yml")) else f"{base}.yaml")
    if not base_path.is_file():
        raise BadInputError(f"recipe {path.name} inherits from {base!r}, which does not exist")
    return _merge(_read_merged(base_path, (*seen, path.resolve())), raw)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = raw
    for p in parents:
        child = node.get(p)
        if not isinstance(child, dict):
            child = node[p] = {}
        node = child
    node[last] = value


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise BadInputError(f"recipe key {where.rstrip('.') or '(top)'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise BadInputError(f"unknown recipe key {where}{unknown[0]}; known here: {', '.join(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"recipe section {where.rstrip('.') or '(top)'}: {err}") from None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check a YAML value against a field's type; ints pass as floats, lists become tuples."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value if value is not None else {}, f"{key}.")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _coerce(option, value, key)
            except BadInputError:
                continue
        raise _type_error(key, value, hint)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _type_error(key, value, hint)
        items = [_coerce(args[0] if origin is list else args[i], v, key) for i, v in enumerate(value)]
        if origin is tuple and len(items) != len(args):
            raise _type_error(key, value, hint)
        return items if origin is list else tuple(items)
    if hint is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)  # YAML reads "1e-3" as a string
        except ValueError:
            raise _type_error(key, value, hint) from None
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise _type_error(key, value, hint)


def _type_error(key: str, value: Any, hint: Any) -> BadInputError:
    name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
    return BadInputError(f"recipe key {key} must be {name}, got {value!r}")


def _check(r: Recipe) -> None:
    _check_numbers(r)
    o = r.optim
    if sum(x is not None for x in (o.epochs, o.steps, o.match_steps)) != 1:
        raise BadInputError(f"recipe {r.name}: give exactly one of optim.epochs, optim.steps and "
                            f"optim.match_steps")
    if not r.data.secondary:
        _check_single_pair(r)
    if r.data.control is not None:
        from lssd.train.controls import check_name

        check_name(r.data.control)
        if r.data.policy == "none" or not r.data.secondary:
            raise BadInputError(f"recipe {r.name}: data.control {r.data.control} is the secondary audio; it needs "
                                f"data.secondary: true and a dub policy other than none")
    if r.loss.reduction not in ("sum", "mean"):
        raise BadInputError(f"recipe {r.name}: loss.reduction must be sum or mean")
    if r.train.precision not in ("bf16", "fp32"):
        raise BadInputError(f"recipe {r.name}: train.precision must be bf16 or fp32")
    if r.data.decode not in DECODE_CHOICES:
        raise BadInputError(f"recipe {r.name}: data.decode must be {', '.join(DECODE_CHOICES[:-1])} or {DECODE_CHOICES[-1]}")
    if r.model.video is None and r.loss.cross_modal:
        raise BadInputError(f"recipe {r.name}: an audio-only model needs loss.cross_modal: false")


# Numeric fields: every number must be finite and not negative, unless listed in _SIGNED; those in
# _POSITIVE above zero, those in _BELOW below a bound. (Video and audio configs check their own ranges.)
_POSITIVE = {
    "model.embed_dim", "loss.tau", "data.window", "data.batch_size", "data.group_size",
    "data.video.fps", "data.video.num_frames", "data.video.crop", "data.video.short_side", "data.video.std",
    "data.audio.sample_rate", "data.audio.n_fft", "data.audio.hop_length", "data.audio.n_mels",
    "data.audio.channels", "optim.lr", "optim.epochs", "optim.steps", "train.ckpt_every",
    "train.keep_checkpoints", "train.log_every", "train.accum_freq",
}
_SIGNED = {"data.video.mean", "data.audio.mask_value"}  # a dB fill value is negative
_BELOW = {"optim.betas": 1.0}


def _numbers(node: Any, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted key, value) of every number in a recipe, list and tuple items included."""
    out: list[tuple[str, float]] = []
    for f in dataclasses.fields(node):
        value, key = getattr(node, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out += _numbers(value, f"{key}.")
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                out.append((key, item))
    return out


def _check_numbers(r: Recipe) -> None:
    for key, value in _numbers(r):
        problem = None
        if not math.isfinite(value):
            problem = "must be a finite number"
        elif key in _POSITIVE and value <= 0:
            problem = "must be positive"
        elif key not in _SIGNED and value < 0:
            problem = "must not be negative"
        elif key in _BELOW and value >= _BELOW[key]:
            problem = f"must be below {_BELOW[key]:g}"
        if problem:
            raise BadInputError(f"recipe {r.name}: {key} {problem}, got {value!r}")


def _check_single_pair(r: Recipe) -> None:
    """Without a secondary instance there is one audio path: no second head, no L_v or L_a to form."""
    wrong = [f"{key}: {value}" for key, value, ok in (
        ("data.policy", r.data.policy, r.data.policy == "none"),
        ("model.separate_audio_heads", r.model.separate_audio_heads, not r.model.separate_audio_heads),
        ("loss.cross_modal", r.loss.cross_modal, r.loss.cross_modal),
        ("loss.lambda_v", r.loss.lambda_v, r.loss.lambda_v == 0),
        ("loss.lambda_a", r.loss.lambda_a, r.loss.lambda_a == 0),
    ) if not ok]
    if wrong:
        raise BadInputError(f"recipe {r.name}: data.secondary: false (one video-audio pair per shot) "
                            f"cannot have {', '.join(wrong)}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
