"""Title-aware batches and the dub-language policy (§4.1, App. A, App. B.3).

A batch is built group by group: a title is drawn uniformly (n ~ U(1, N), not weighted by its number
of shots), then ``group_size`` distinct shots of it; shots of the same title are the hard negatives.
App. A puts 1/8 of a batch in one title (``group_size = batch_size // 8``); App. B.3's k = 12 "samples
drawn from the same movie as the positive clip" make groups of 13 (the positive and its k), two per
per-GPU batch of 26. A title with fewer shots than ``group_size`` gives all it has and the rest of the
group comes from the next drawn title, so every batch is full.

Within one optimisation step the global batch (all ranks) never repeats a shot: with negatives
gathered across GPUs, a repeated shot would be its own negative. Shots do repeat across steps, as in
the paper's sampling with replacement; an "epoch" is ``len(index) // (batch_size * world_size *
accum)`` steps, i.e. about as many samples as there are shots.

Gradient accumulation (``accum`` K): a rank's batch of a step is ``K * batch_size`` keys, exactly the
batch a K times larger ``batch_size`` would give, handed out as K micro-batches of ``batch_size``.

The sampler also decides each sample's languages and emits :class:`SampleKey` s, so a sample is a pure
function of its key: every rank and every loader worker reproduce it exactly from (seed, epoch, step).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from torch.utils.data import Sampler

from lssd.errors import BadInputError
from lssd.languages import get_language
from lssd.train.tables import Codes, distinct_rows, per_distinct, spread

POLICY_KINDS = ("random", "fixed", "round_robin", "none")
_POLICY_HELP = "random, none, fixed:<lang> or round_robin:<lang>,<lang>,..."
_DRAW_TRIES = 32


class SampleKey(NamedTuple):
    """What the dataset needs to build one quadruplet, deterministically."""

    row: int  # position in the index DataFrame the dataset was built on
    lang_p: str  # ISO 639-2/T of a_p
    lang_s: str  # ISO 639-2/T of a_s (== lang_p when no dub is used)
    seed: int  # seeds every random choice of the sample (windows, crops, masks)


# --------------------------------------------------------------------------------------- dub policy

@dataclass(frozen=True)
class DubPolicy:
    """Which language a_s speaks, given a_p's.

    ``random``: any dub other than the primary. ``fixed``: ``languages[0]``. ``round_robin``: cycle
    through ``languages`` sample by sample (App. B.3 "EFJ"). ``none``: a_s = a_p, differently
    augmented (the monolingual SimCLR-style baseline). ``primary`` is a recipe-given primary language
    (App. B.3: EN); None means each title's original language.

    When the policy's language is missing from a title (or is its primary) but the title has another
    dub, a random other dub is used: a_s is never the primary while a dub exists. Recipes that must
    see only one secondary language filter the index with ``filter_index(has_languages=...)``.
    """

    kind: str = "random"
    languages: tuple[str, ...] = ()
    primary: str | None = None


def parse_policy(spec: str | DubPolicy, primary: str | None = None) -> DubPolicy:
    """``"random"``, ``"none"``, ``"fixed:es"``, ``"round_robin:es,fr,ja"`` -> :class:`DubPolicy`."""
    if isinstance(spec, DubPolicy):
        return spec if primary is None else DubPolicy(spec.kind, spec.languages, primary)
    kind, _, args = str(spec).strip().partition(":")
    kind = kind.strip().lower().replace("-", "_")
    if kind not in POLICY_KINDS:
        raise BadInputError(f"unknown dub policy {spec!r}; use {_POLICY_HELP}")
    languages = tuple(dict.fromkeys(get_language(a).iso3 for a in args.split(",") if a.strip()))
    main = get_language(primary).iso3 if primary else None
    if kind in ("fixed", "round_robin") and not languages:
        raise BadInputError(f"dub policy {kind} needs languages, e.g. {kind}:es")
    if kind == "fixed" and len(languages) != 1:
        raise BadInputError(f"dub policy fixed takes one language, got {args!r}")
    if kind in ("random", "none") and languages:
        raise BadInputError(f"dub policy {kind} takes no languages, got {args!r}")
    if main is not None and main in languages:
        raise BadInputError(f"dub policy {spec!r} lists the primary language {main} as a dub")
    return DubPolicy(kind, languages, main)


def choose_languages(policy: DubPolicy, available: Sequence[str], original: str,
                     rng: np.random.Generator, position: int = 0) -> tuple[str, str]:
    """(lang_p, lang_s) for one sample; ``position`` is its batch's place in the round-robin cycle."""
    primary = policy.primary if policy.primary in available else original
    dubs = [lang for lang in available if lang != primary]
    if policy.kind == "none" or not dubs:
        return primary, primary
    if policy.kind == "fixed" and policy.languages[0] in dubs:
        return primary, policy.languages[0]
    if policy.kind == "round_robin":
        cycle = policy.languages
        for k in range(len(cycle)):
            lang = cycle[(position + k) % len(cycle)]
            if lang in dubs:
                return primary, lang
    return primary, dubs[int(rng.integers(len(dubs)))]


# ------------------------------------------------------------------------------------------ filters

TRACK_COLUMNS = ("audio_languages", "audio_stream_index", "is_synthetic", "track_kinds")  # parallel lists


def drop_pseudo(df: pd.DataFrame) -> pd.DataFrame:
    """The index without its pseudo-text tracks (speech that is not a translation, see lssd.sidecar):
    no dub policy, filter or decoder can pick one. Recipes opt in with ``data.allow_pseudo``."""
    from lssd.sidecar import LABEL_PSEUDO

    out = df.copy(deep=False)  # the other columns stay shared (copy-on-write)
    codes, first = distinct_rows(*(df[col] for col in TRACK_COLUMNS))  # a title's shots share their lists
    kinds = df["track_kinds"].to_numpy()
    for col in TRACK_COLUMNS:
        values = df[col].to_numpy()
        out[col] = spread([[v for v, k in zip(values[row], kinds[row]) if k != LABEL_PSEUDO] for row in first],
                          codes)
    out.attrs = dict(df.attrs)
    return out


def track_kind_counts(df: pd.DataFrame) -> dict[str, int]:
    """How many tracks of each label (original, dub, synthetic, pseudo) the shots' titles carry."""
    titles = df.drop_duplicates("title_id")
    counts: dict[str, int] = {}
    for kinds in titles["track_kinds"]:
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def filter_index(df: pd.DataFrame, original_languages: set[str] | None = None,
                 exclude: set[str] | None = None, dubbed_only: bool = False,
                 has_languages: set[str] | None = None) -> pd.DataFrame:
    """Recipe subsets: by original language ("ESF" = {eng, spa, fra}; all-but-EN = exclude {eng}),
    titles with at least two audio languages, or titles that have all of ``has_languages``."""
    return take_rows(df, keep_rows(df, original_languages, exclude, dubbed_only, has_languages))


def keep_rows(df: pd.DataFrame, original_languages: set[str] | None = None, exclude: set[str] | None = None,
              dubbed_only: bool = False, has_languages: set[str] | None = None) -> pd.Series:
    """The rows :func:`filter_index` keeps, as a boolean mask."""
    keep = pd.Series(True, index=df.index)
    if original_languages is not None:
        wanted = {get_language(c).iso3 for c in original_languages}
        keep &= df["original_language"].isin(wanted)
    if exclude:
        keep &= ~df["original_language"].isin({get_language(c).iso3 for c in exclude})
    if dubbed_only:
        keep &= per_distinct(len, df["audio_languages"]).astype(np.int64) >= 2
    if has_languages:
        need = {get_language(c).iso3 for c in has_languages}
        keep &= per_distinct(lambda langs: need <= set(langs), df["audio_languages"]).astype(bool)
    return keep


def take_rows(df: pd.DataFrame, keep: pd.Series, release: tuple[pd.DataFrame, ...] = ()) -> pd.DataFrame:
    """``df``'s rows where ``keep``. Every row kept (a recipe without filters): the same columns
    (copy-on-write), not a copy of millions of rows. Otherwise a column at a time; each column taken
    is deleted from the ``release`` frames (``df`` and the frames sharing its columns that the caller
    gives up, e.g. the whole index a run no longer needs), so the full table and the subset are never
    in memory together."""
    attrs = dict(df.attrs)
    if keep.all():
        out = df.reset_index(drop=True)
    else:
        data = {}
        for col in list(df.columns):
            data[col] = df[col][keep].reset_index(drop=True)
            for frame in release:
                if col in frame.columns:  # a frame named twice loses the column once
                    del frame[col]
        out = pd.DataFrame(data, copy=False)
    out.attrs = attrs
    return out


# ------------------------------------------------------------------------------------------ sampler

def sample_seed(*parts: int) -> int:
    """A 63-bit seed from integers (fits torch and numpy generators)."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class TitleBatchSampler(Sampler[list[SampleKey]]):
    """Per-rank batches of :class:`SampleKey` for ``DataLoader(batch_sampler=...)``.

    Deterministic given (seed, epoch); every rank computes the same global steps and keeps its own
    batch, so ranks never overlap within a step. ``set_epoch(epoch, start_batch)`` selects the epoch
    and skips already-trained batches when resuming mid-epoch.
    """

    def __init__(self, index: pd.DataFrame, batch_size: int, group_size: int | None = None, *,
                 policy: str | DubPolicy = "random", primary: str | None = None, rank: int = 0,
                 world_size: int = 1, seed: int = 0, steps_per_epoch: int | None = None,
                 accum: int = 1) -> None:
        if len(index) == 0:
            raise BadInputError("the shot index is empty (nothing left after filtering?)")
        if accum < 1:
            raise BadInputError(f"gradient accumulation needs accum >= 1, got {accum}")
        step_batch = batch_size * accum
        group_size = max(1, step_batch // 8) if group_size is None else group_size
        if batch_size < 1 or not 1 <= group_size <= step_batch:
            raise BadInputError(f"need 1 <= group_size <= batch_size, got {group_size} and {step_batch}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise BadInputError(f"rank {rank} is not in [0, world_size={world_size})")
        self.micro_batch, self.accum = batch_size, accum
        self.batch_size, self.group_size = step_batch, group_size  # a rank's share of a step
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.policy = parse_policy(policy, primary)
        per_step = self.batch_size * world_size
        self.steps_per_epoch = steps_per_epoch or max(1, len(index) // per_step)
        codes, _ = pd.factorize(index["title_id"], sort=True)
        order = np.argsort(codes, kind="stable")  # rows of each title, in index order
        bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2))
        self._titles = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]  # views of one array
        self._languages = index["audio_languages"].to_numpy()  # shared lists (lssd.train.tables)
        self._original = Codes(index["original_language"])
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        """Micro-batches left in the epoch (``accum`` per step)."""
        return max(0, self.steps_per_epoch - self.start_batch) * self.accum

    def __iter__(self) -> Iterator[list[SampleKey]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        for step in range(self.steps_per_epoch):
            rows = self._global_step(rng)[self.rank]
            if step >= self.start_batch:
                keys = [self._key(row, step, i) for i, row in enumerate(rows)]
                for start in range(0, self.batch_size, self.micro_batch):
                    yield keys[start:start + self.micro_batch]

    def _key(self, row: int, step: int, i: int) -> SampleKey:
        seed = sample_seed(self.seed, self.epoch, step, self.rank, i)
        position = self.epoch * self.steps_per_epoch + step  # one secondary language per global batch
        lang_p, lang_s = choose_languages(self.policy, self._languages[row], self._original[row],
                                          np.random.default_rng(seed), position)
        return SampleKey(int(row), lang_p, lang_s, seed)

    def _global_step(self, rng: np.random.Generator) -> list[list[int]]:
        """One batch per rank; no shot twice in the step unless the index is smaller than it."""
        remaining: dict[int, list[int]] = {}
        batches = []
        for _ in range(self.world_size):
            batch: list[int] = []
            in_batch: set[int] = set()
            while len(batch) < self.batch_size:
                title = self._draw_title(rng, remaining, in_batch)
                if title not in remaining:
                    remaining[title] = rng.permutation(self._titles[title]).tolist()
                take = min(self.group_size, self.batch_size - len(batch), len(remaining[title]))
                batch += remaining[title][:take]
                del remaining[title][:take]
                in_batch.add(title)
            batches.append(batch)
        return batches

    def _draw_title(self, rng: np.random.Generator, remaining: dict[int, list[int]],
                    in_batch: set[int]) -> int:
        """Uniform over titles with unused shots, preferring titles not yet in this batch."""
        n = len(self._titles)

        def has_shots(t: int) -> bool:
            return t not in remaining or bool(remaining[t])

        for _ in range(_DRAW_TRIES):
            t = int(rng.integers(n))
            if t not in in_batch and has_shots(t):
                return t
        for pool in ([t for t in range(n) if t not in in_batch and has_shots(t)],
                     [t for t in range(n) if has_shots(t)]):
            if pool:
                return pool[int(rng.integers(len(pool)))]
        remaining.clear()  # the index is smaller than a global batch: repeats are unavoidable
        return int(rng.integers(n))
