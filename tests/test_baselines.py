"""Tests of movierec.baselines: hand cases, plain-Python references, exclusion, errors."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from movierec.baselines import BiasBaseline, GlobalMean, MostPopular
from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RANK, RATING, SCORE, USER

SEED = 7321


@pytest.fixture(scope="module")
def random_train() -> pd.DataFrame:
    """~300 users x 80 movies, skewed popularity (many count ties among the tail)."""
    rng = np.random.default_rng(SEED)
    weights = 1.0 / (1.0 + np.arange(80)) ** 0.8
    weights /= weights.sum()
    rows = []
    for u in range(300):
        n = int(rng.integers(1, 40))
        items = rng.choice(80, size=n, replace=False, p=weights)
        for i in items:
            rows.append((u * 3 + 1, int(i) * 10 + 5, float(rng.choice(np.arange(1, 11) / 2))))
    return pd.DataFrame(rows, columns=[USER, ITEM, RATING])


# ============================================================== GlobalMean


def test_global_mean() -> None:
    train = pd.DataFrame({USER: [1, 1, 2], ITEM: [10, 20, 10], RATING: [5.0, 3.0, 4.0]})
    model = GlobalMean().fit(train)
    # (5 + 3 + 4) / 3 = 4
    assert model.mean_ == pytest.approx(4.0)
    pairs = pd.DataFrame({USER: [1, 99, 2], ITEM: [10, 10, 999]})
    np.testing.assert_allclose(model.predict(pairs), [4.0, 4.0, 4.0])


def test_global_mean_errors() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        GlobalMean().predict(pd.DataFrame({USER: [1], ITEM: [1]}))
    with pytest.raises(DataError, match="empty"):
        GlobalMean().fit(pd.DataFrame({USER: [], ITEM: [], RATING: []}))
    with pytest.raises(DataError, match=RATING):
        GlobalMean().fit(pd.DataFrame({USER: [1], ITEM: [1]}))


# ============================================================== BiasBaseline


def ref_bias(
    rows: list[tuple], reg_u: float, reg_i: float, iterations: int
) -> tuple[float, dict, dict]:
    """Plain-Python ALS for mu + b_u + b_i (items first, then users, from zero)."""
    mu = sum(r for _, _, r in rows) / len(rows)
    by_item: dict[object, list[tuple]] = defaultdict(list)
    by_user: dict[object, list[tuple]] = defaultdict(list)
    for u, i, r in rows:
        by_item[i].append((u, r))
        by_user[u].append((i, r))
    bu = dict.fromkeys(by_user, 0.0)
    bi = dict.fromkeys(by_item, 0.0)
    for _ in range(iterations):
        for i, ratings in by_item.items():
            bi[i] = sum(r - mu - bu[u] for u, r in ratings) / (reg_i + len(ratings))
        for u, ratings in by_user.items():
            bu[u] = sum(r - mu - bi[i] for i, r in ratings) / (reg_u + len(ratings))
    return mu, bu, bi


def _bias_train() -> pd.DataFrame:
    return pd.DataFrame({USER: [1, 1, 2], ITEM: [10, 20, 10], RATING: [5.0, 3.0, 4.0]})


def test_bias_baseline_hand_case_one_round() -> None:
    # mu = 4, lambda_u = lambda_i = 1, one round (items first, b_u = 0):
    # b_10 = ((5-4) + (4-4)) / (1 + 2) = 1/3;   b_20 = (3-4) / (1 + 1) = -1/2
    # b_1 = ((5-4-1/3) + (3-4+1/2)) / (1 + 2) = (2/3 - 1/2)/3 = 1/18
    # b_2 = (4-4-1/3) / (1 + 1) = -1/6
    model = BiasBaseline(reg_user=1.0, reg_item=1.0, iterations=1).fit(_bias_train())
    assert model.mean_ == pytest.approx(4.0)
    assert model.item_bias_ is not None and model.user_bias_ is not None
    assert model.item_bias_[10] == pytest.approx(1 / 3)
    assert model.item_bias_[20] == pytest.approx(-1 / 2)
    assert model.user_bias_[1] == pytest.approx(1 / 18)
    assert model.user_bias_[2] == pytest.approx(-1 / 6)
    pairs = pd.DataFrame({USER: [1, 2, 99, 1, 99], ITEM: [10, 20, 10, 777, 777]})
    # (1,10): 4 + 1/18 + 1/3; (2,20): 4 - 1/6 - 1/2; unknown user: 4 + 1/3;
    # unknown item: 4 + 1/18; both unknown: 4
    np.testing.assert_allclose(
        model.predict(pairs),
        [4 + 1 / 18 + 1 / 3, 4 - 1 / 6 - 1 / 2, 4 + 1 / 3, 4 + 1 / 18, 4.0],
    )


def test_bias_baseline_hand_case_two_rounds_and_clip() -> None:
    # second round, from b_1 = 1/18, b_2 = -1/6:
    # b_10 = ((5-4-1/18) + (4-4+1/6)) / 3 = (17/18 + 3/18)/3 = 10/27
    # b_20 = (3-4-1/18) / 2 = -19/36
    # b_1 = ((5-4-10/27) + (3-4+19/36)) / 3 = (17/27 - 17/36)/3 = 17/324
    # b_2 = (4-4-10/27) / 2 = -5/27
    model = BiasBaseline(reg_user=1.0, reg_item=1.0, iterations=2).fit(_bias_train())
    assert model.item_bias_ is not None and model.user_bias_ is not None
    assert model.item_bias_[10] == pytest.approx(10 / 27)
    assert model.item_bias_[20] == pytest.approx(-19 / 36)
    assert model.user_bias_[1] == pytest.approx(17 / 324)
    assert model.user_bias_[2] == pytest.approx(-5 / 27)
    clipped = BiasBaseline(reg_user=1.0, reg_item=1.0, iterations=2, clip=(3.5, 4.2))
    clipped.fit(_bias_train())
    pairs = pd.DataFrame({USER: [1, 2], ITEM: [10, 20]})
    # unclipped: 4 + 17/324 + 10/27 = 4.4228 -> 4.2; 4 - 5/27 - 19/36 = 3.2870 -> 3.5
    np.testing.assert_allclose(clipped.predict(pairs), [4.2, 3.5])


@pytest.mark.parametrize(
    ("reg_u", "reg_i", "iterations"), [(15.0, 10.0, 10), (0.0, 0.0, 3), (5.0, 25.0, 1)]
)
def test_bias_baseline_matches_reference(
    random_train: pd.DataFrame, reg_u: float, reg_i: float, iterations: int
) -> None:
    rows = list(zip(random_train[USER], random_train[ITEM], random_train[RATING], strict=True))
    mu, bu, bi = ref_bias(rows, reg_u, reg_i, iterations)
    model = BiasBaseline(reg_user=reg_u, reg_item=reg_i, iterations=iterations)
    model.fit(random_train)
    assert model.mean_ == pytest.approx(mu, rel=1e-12)
    rng = np.random.default_rng(SEED + 1)
    users = rng.choice(np.r_[random_train[USER].unique(), [-1, -2]], size=2000)
    items = rng.choice(np.r_[random_train[ITEM].unique(), [-5]], size=2000)
    expected = [mu + bu.get(u, 0.0) + bi.get(i, 0.0) for u, i in zip(users, items, strict=True)]
    got = model.predict(pd.DataFrame({USER: users, ITEM: items}))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_bias_baseline_defaults_and_errors() -> None:
    model = BiasBaseline()
    assert (model.reg_user, model.reg_item, model.iterations) == (15.0, 10.0, 10)
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(pd.DataFrame({USER: [1], ITEM: [1]}))
    with pytest.raises(ConfigError):
        BiasBaseline(iterations=0)
    with pytest.raises(ConfigError):
        BiasBaseline(reg_user=-1.0)
    with pytest.raises(ConfigError):
        BiasBaseline(clip=(5.0, 1.0))
    with pytest.raises(DataError, match="empty"):
        model.fit(pd.DataFrame({USER: [], ITEM: [], RATING: []}))
    with pytest.raises(DataError, match="missing"):
        model.fit(pd.DataFrame({USER: [1, 2], ITEM: [1, 1], RATING: [4.0, np.nan]}))
    model.fit(_bias_train())
    with pytest.raises(DataError, match=ITEM):
        model.predict(pd.DataFrame({USER: [1]}))


# ============================================================== MostPopular


def _pop_train() -> pd.DataFrame:
    # counts: 30 -> 3, 10 -> 2, 20 -> 2, 40 -> 1, 50 -> 1
    # popularity order: 30, 10, 20 (tie with 10, larger id), 40, 50 (tie with 40)
    rows = [(1, 30), (1, 10), (2, 30), (2, 20), (2, 40), (3, 30), (3, 10), (3, 20), (3, 50)]
    df = pd.DataFrame(rows, columns=[USER, ITEM])
    return df.assign(**{RATING: 4.0})


def test_most_popular_order_and_tie_break() -> None:
    model = MostPopular().fit(_pop_train())
    assert model.items_ is not None and model.counts_ is not None
    assert model.items_.tolist() == [30, 10, 20, 40, 50]
    assert model.counts_.tolist() == [3, 2, 2, 1, 1]


def test_most_popular_hand_case_with_exclusion() -> None:
    train = _pop_train()
    got = MostPopular().fit(train).recommend([1, 2, 3, 4], n=2, exclude=train)
    # u1 saw {30, 10} -> 20 (2), 40 (1)
    # u2 saw {30, 20, 40} -> 10 (2), 50 (1)
    # u3 saw {30, 10, 20, 50} -> only 40 (1) left, fewer than n
    # u4 unknown -> 30 (3), 10 (2)  (10 before 20 by id)
    expected = pd.DataFrame(
        {
            USER: [1, 1, 2, 2, 3, 4, 4],
            ITEM: [20, 40, 10, 50, 40, 30, 10],
            SCORE: [2.0, 1.0, 2.0, 1.0, 1.0, 3.0, 2.0],
            RANK: [1, 2, 1, 2, 1, 1, 2],
        }
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert list(got.columns) == [USER, ITEM, SCORE, RANK]


def test_most_popular_n_larger_than_catalogue_and_no_exclude() -> None:
    model = MostPopular().fit(_pop_train())
    got = model.recommend(np.array([7, 7, 8]), n=50)  # repeated user 7 listed once
    assert got[USER].tolist() == [7] * 5 + [8] * 5
    assert got[ITEM].tolist() == [30, 10, 20, 40, 50] * 2
    assert got[RANK].tolist() == [1, 2, 3, 4, 5] * 2
    # a user who has seen everything gets nothing
    everything = pd.DataFrame({USER: [9] * 5, ITEM: [10, 20, 30, 40, 50]})
    assert model.recommend([9], n=3, exclude=everything).empty


def test_most_popular_ignores_irrelevant_exclusions() -> None:
    model = MostPopular().fit(_pop_train())
    # rows for users not asked about, and for movies never rated in training, change nothing
    exclude = pd.DataFrame({USER: [1, 2, 1], ITEM: [999, 30, 30]})
    got = model.recommend([1], n=3, exclude=exclude)
    assert got[ITEM].tolist() == [10, 20, 40]
    assert got[RANK].tolist() == [1, 2, 3]
    # an exclude frame with nothing relevant at all, and a repeated (user, movie) row
    unrelated = pd.DataFrame({USER: [5, 6], ITEM: [30, 999]})
    assert model.recommend([1], n=2, exclude=unrelated)[ITEM].tolist() == [30, 10]
    repeated = pd.DataFrame({USER: [1, 1, 1], ITEM: [10, 10, 30]})
    assert model.recommend([1], n=2, exclude=repeated)[ITEM].tolist() == [20, 40]
    assert model.recommend([], n=2, exclude=repeated).empty


def ref_most_popular(
    train_items: list, users: list, seen: dict[object, set], n: int
) -> list[tuple]:
    counts: dict[object, int] = defaultdict(int)
    for i in train_items:
        counts[i] += 1
    order = sorted(counts, key=lambda i: (-counts[i], i))
    out = []
    for u in users:
        chosen = [i for i in order if i not in seen.get(u, set())][:n]
        for rank, i in enumerate(chosen, start=1):
            out.append((u, i, float(counts[i]), rank))
    return out


@pytest.mark.parametrize("n", [1, 5, 10, 60, 200])
def test_most_popular_matches_reference(random_train: pd.DataFrame, n: int) -> None:
    rng = np.random.default_rng(SEED + 2)
    # exclude = a random ~80% of training rows, plus rows for a cold user id
    mask = rng.random(len(random_train)) < 0.8
    exclude = random_train.loc[mask, [USER, ITEM]]
    users = [*list(rng.permutation(random_train[USER].unique())[:250]), -1, -2]
    seen: dict[object, set] = defaultdict(set)
    for u, i in zip(exclude[USER], exclude[ITEM], strict=True):
        seen[u].add(i)

    model = MostPopular().fit(random_train)
    got = model.recommend(np.array(users), n=n, exclude=exclude)
    expected = ref_most_popular(random_train[ITEM].tolist(), users, seen, n)
    assert list(zip(got[USER], got[ITEM], got[SCORE], got[RANK], strict=True)) == expected
    # invariants: nothing seen is recommended; ranks 1..len per user
    for u, i in zip(got[USER], got[ITEM], strict=True):
        assert i not in seen[u]
    assert (got.groupby(USER)[RANK].max() == got.groupby(USER).size()).all()


def test_most_popular_errors() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        MostPopular().recommend([1])
    model = MostPopular().fit(_pop_train())
    with pytest.raises(ConfigError):
        model.recommend([1], n=0)
    with pytest.raises(DataError, match=ITEM):
        model.recommend([1], exclude=pd.DataFrame({USER: [1]}))
    with pytest.raises(DataError, match="empty"):
        MostPopular().fit(pd.DataFrame({USER: [], ITEM: [], RATING: []}))
