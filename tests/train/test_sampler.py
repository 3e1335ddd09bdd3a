"""Title-aware batches (§4.1, App. A/B.3), DDP splitting, determinism, dub policies, index filters."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from lssd.errors import BadInputError
from lssd.train.sampler import (DubPolicy, TitleBatchSampler, choose_languages, filter_index,
                                parse_policy)

ALL4 = ["eng", "spa", "fra", "jpn"]


def make_index(sizes: list[int], languages: list[list[str]] | None = None,
               originals: list[str] | None = None) -> pd.DataFrame:
    """Synthetic index rows: title t has sizes[t] shots."""
    rows = []
    for t, n in enumerate(sizes):
        langs = languages[t % len(languages)] if languages else ALL4
        original = originals[t % len(originals)] if originals else langs[0]
        rows += [{"title_id": f"t{t:03d}.mkv", "audio_languages": list(langs),
                  "original_language": original, "shot_idx": k} for k in range(n)]
    return pd.DataFrame(rows)


def titles_of(df: pd.DataFrame, batch) -> list[str]:
    return [df["title_id"].iloc[key.row] for key in batch]


def group_sizes(df: pd.DataFrame, batch) -> list[int]:
    return sorted(Counter(titles_of(df, batch)).values(), reverse=True)


def test_batches_are_groups_of_distinct_shots_from_distinct_titles():
    df = make_index([10] * 20)
    sampler = TitleBatchSampler(df, batch_size=16, group_size=4, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 200 // 16
    for batch in batches:
        assert len(batch) == 16 and len({k.row for k in batch}) == 16
        assert group_sizes(df, batch) == [4, 4, 4, 4]


def test_default_group_is_one_eighth_of_the_batch_and_b3_uses_k12_of_26():
    df = make_index([30] * 40)
    assert TitleBatchSampler(df, batch_size=64).group_size == 8
    assert group_sizes(df, next(iter(TitleBatchSampler(df, batch_size=64)))) == [8] * 8
    # App. B.3: k = 12 same-movie samples per positive -> groups of 13, two per batch of 26
    b3 = TitleBatchSampler(df, batch_size=26, group_size=13)
    for batch in b3:
        assert group_sizes(df, batch) == [13, 13]
        same_movie = Counter(titles_of(df, batch))
        assert all(same_movie[t] - 1 == 12 for t in titles_of(df, batch))


@pytest.mark.parametrize(("world", "accum"), [(1, 2), (1, 4), (2, 2)])
def test_accumulation_splits_the_batch_of_a_k_times_larger_batch_size(world: int, accum: int):
    df = make_index([7, 20, 3, 12, 9, 30, 5, 16], languages=[ALL4, ["eng", "spa"]])
    for rank in range(world):
        full = TitleBatchSampler(df, 8 * accum, 4, rank=rank, world_size=world, seed=2,
                                 policy="round_robin:es,fr,ja")
        micro = TitleBatchSampler(df, 8, 4, rank=rank, world_size=world, seed=2, accum=accum,
                                  policy="round_robin:es,fr,ja")
        assert micro.steps_per_epoch == full.steps_per_epoch and len(micro) == accum * len(full)
        micro.set_epoch(1, 1)
        full.set_epoch(1, 1)
        micro_batches = list(micro)
        assert all(len(b) == 8 for b in micro_batches)
        assert [k for b in micro_batches for k in b] == [k for b in full for k in b]


def test_hard_negative_fraction_matches_group_structure():
    """Fraction of same-title pairs in a batch = (g - 1) / (B - 1) for B/g groups of g."""
    df = make_index([12] * 50)
    batch_size, group = 32, 4
    for batch in TitleBatchSampler(df, batch_size, group, steps_per_epoch=20):
        titles = titles_of(df, batch)
        same = sum(a == b for a, b in combinations(titles, 2))
        assert same / (batch_size * (batch_size - 1) / 2) == pytest.approx((group - 1) / (batch_size - 1))


def test_titles_are_drawn_uniformly_not_by_shot_count():
    sizes = [4, 6, 10, 20, 40, 80, 150, 300]
    df = make_index(sizes)
    draws = Counter()
    for epoch in range(4):
        sampler = TitleBatchSampler(df, batch_size=8, group_size=4, seed=3, steps_per_epoch=250)
        sampler.set_epoch(epoch)
        for batch in sampler:
            draws.update(Counter(titles_of(df, batch)).keys())
    counts = np.array([draws[f"t{t:03d}.mkv"] for t in range(len(sizes))])
    expected = counts.sum() / len(sizes)  # 1000 per title; shot-weighted sampling would give 4 vs 300
    assert np.all(np.abs(counts - expected) < 0.12 * expected), counts


def test_small_titles_give_all_their_shots_and_the_batch_is_filled_from_others():
    df = make_index([2, 3, 2, 2, 3, 2, 2, 3])
    for batch in TitleBatchSampler(df, batch_size=8, group_size=4, steps_per_epoch=30, seed=5):
        rows = [k.row for k in batch]
        assert len(rows) == len(set(rows)) == 8
        assert max(group_sizes(df, batch)) <= 3


def test_ranks_get_disjoint_batches_within_each_step():
    df = make_index([8] * 30)
    world = 4
    samplers = [TitleBatchSampler(df, 8, 2, rank=r, world_size=world, seed=7) for r in range(world)]
    per_rank = [list(s) for s in samplers]
    assert {len(b) for b in per_rank} == {240 // 32}
    for step in zip(*per_rank):
        rows = [k.row for batch in step for k in batch]
        assert len(rows) == len(set(rows)) == world * 8
        assert all(group_sizes(df, batch) == [2, 2, 2, 2] for batch in step)


def test_index_smaller_than_a_batch_still_gives_full_batches():
    df = make_index([2, 1])
    batch = next(iter(TitleBatchSampler(df, batch_size=8, group_size=2)))
    assert len(batch) == 8 and {k.row for k in batch} == {0, 1, 2}


def test_deterministic_per_seed_and_epoch_and_resumable():
    df = make_index([9] * 12)

    def run(seed: int, epoch: int, start: int = 0) -> list:
        sampler = TitleBatchSampler(df, 8, 2, seed=seed)
        sampler.set_epoch(epoch, start)
        return list(sampler)

    assert run(0, 3) == run(0, 3)
    assert run(0, 3) != run(0, 4) and run(0, 3) != run(1, 3)
    full, resumed = run(0, 3), run(0, 3, start=5)
    assert resumed == full[5:] and len(resumed) == len(full) - 5
    sampler = TitleBatchSampler(df, 8, 2)
    sampler.set_epoch(0, 5)
    assert len(sampler) == len(full) - 5


# ------------------------------------------------------------------------------------------ policies

def draws(policy: DubPolicy, available: list[str], original: str, n: int = 200) -> list[tuple]:
    rng = np.random.default_rng(0)
    return [choose_languages(policy, available, original, rng, i) for i in range(n)]


def test_random_policy_picks_any_dub_but_never_the_primary():
    got = draws(parse_policy("random"), ALL4, "eng")
    assert {p for p, _ in got} == {"eng"}
    assert {s for _, s in got} == {"spa", "fra", "jpn"}


def test_fixed_policy_uses_its_language_and_falls_back_to_another_dub():
    assert set(draws(parse_policy("fixed:es"), ALL4, "eng")) == {("eng", "spa")}
    assert set(draws(parse_policy("fixed:es"), ["eng", "fra"], "eng")) == {("eng", "fra")}
    # a Spanish original: the fixed language is its primary, so another dub is used
    assert {s for _, s in draws(parse_policy("fixed:spa"), ALL4, "spa")} == {"eng", "fra", "jpn"}


def test_round_robin_cycles_in_order_and_skips_missing_languages():
    policy = parse_policy("round_robin:es,fr,ja")
    assert [s for _, s in draws(policy, ALL4, "eng", 6)] == ["spa", "fra", "jpn"] * 2
    assert [s for _, s in draws(policy, ["eng", "spa", "jpn"], "eng", 3)] == ["spa", "jpn", "jpn"]


def test_round_robin_picks_one_language_per_global_batch_on_every_rank():
    """App. B.3 EFJ: one secondary audio "per batch", circling through the list round-robin."""
    df = make_index([12] * 16)
    per_rank = [TitleBatchSampler(df, 6, 3, policy="round_robin:es,fr,ja", rank=r, world_size=2,
                                  steps_per_epoch=4) for r in range(2)]
    seen = []
    for epoch in (0, 1):
        for sampler in per_rank:
            sampler.set_epoch(epoch)
        for batches in zip(*per_rank):
            languages = {k.lang_s for batch in batches for k in batch}
            assert len(languages) == 1 and {k.lang_p for b in batches for k in b} == {"eng"}
            seen.append(languages.pop())
    assert seen == ["spa", "fra", "jpn", "spa", "fra", "jpn", "spa", "fra"]  # the cycle runs on over epochs


def test_none_policy_and_titles_without_dubs_use_the_primary_twice():
    assert set(draws(parse_policy("none"), ALL4, "eng")) == {("eng", "eng")}
    for spec in ("random", "fixed:es", "round_robin:es,fr", "none"):
        assert set(draws(parse_policy(spec), ["jpn"], "jpn")) == {("jpn", "jpn")}


def test_recipe_primary_overrides_the_original_when_the_title_has_it():
    policy = parse_policy("random", primary="en")
    assert {p for p, _ in draws(policy, ["spa", "eng", "fra"], "spa")} == {"eng"}
    assert {s for _, s in draws(policy, ["spa", "eng", "fra"], "spa")} == {"spa", "fra"}
    assert {p for p, _ in draws(policy, ["spa", "fra"], "spa")} == {"spa"}


def test_sampler_never_pairs_the_primary_with_itself_when_a_dub_exists():
    languages = [ALL4, ["eng", "spa"], ["fra", "eng"], ["eng"]]
    df = make_index([6] * 8, languages, originals=["eng", "eng", "fra", "eng"])
    for spec in ("random", "fixed:es", "round_robin:es,fr,ja"):
        for batch in TitleBatchSampler(df, 8, 2, policy=spec, steps_per_epoch=10):
            for key in batch:
                available = df["audio_languages"].iloc[key.row]
                assert key.lang_p == df["original_language"].iloc[key.row]
                assert (key.lang_s != key.lang_p) == (len(available) > 1)
                assert key.lang_s in available


@pytest.mark.parametrize("spec, primary, message", [
    ("shuffle", None, "unknown dub policy"),
    ("fixed", None, "needs languages"),
    ("fixed:es,fr", None, "one language"),
    ("random:es", None, "takes no languages"),
    ("round_robin:es,xx", None, "unknown language code"),
    ("fixed:en", "eng", "primary language eng"),
])
def test_bad_policies_are_user_errors(spec, primary, message):
    with pytest.raises(BadInputError, match=message):
        parse_policy(spec, primary)


def test_policy_spellings():
    assert parse_policy("round-robin: ES, fr ,ja") == DubPolicy("round_robin", ("spa", "fra", "jpn"))
    assert parse_policy("fixed:es", primary="en") == DubPolicy("fixed", ("spa",), "eng")


# ------------------------------------------------------------------------------------------- filters

def test_filter_index_by_original_language_dubs_and_available_languages():
    df = make_index([2, 2, 2, 2], [ALL4, ["spa", "eng"], ["fra"], ["jpn", "eng"]],
                    originals=["eng", "spa", "fra", "jpn"])
    esf = filter_index(df, original_languages={"en", "es", "fr"})
    assert set(esf["original_language"]) == {"eng", "spa", "fra"} and len(esf) == 6
    assert esf.index.tolist() == list(range(6))
    assert set(filter_index(df, exclude={"eng"})["original_language"]) == {"spa", "fra", "jpn"}
    assert set(filter_index(df, dubbed_only=True)["title_id"]) == {"t000.mkv", "t001.mkv", "t003.mkv"}
    assert set(filter_index(df, has_languages={"eng", "spa"})["title_id"]) == {"t000.mkv", "t001.mkv"}
    assert len(filter_index(df)) == len(df)


def test_sampler_rejects_bad_arguments():
    df = make_index([4, 4])
    with pytest.raises(BadInputError, match="empty"):
        TitleBatchSampler(df.iloc[:0], 4)
    with pytest.raises(BadInputError, match="group_size"):
        TitleBatchSampler(df, 4, 5)
    with pytest.raises(BadInputError, match="rank"):
        TitleBatchSampler(df, 4, rank=2, world_size=2)
