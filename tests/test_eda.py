"""Tests for movierec.eda: hand-worked fixture, plain-Python reference, input checks."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest

from movierec.eda import counts_from_ratings, gini, n_top, summarize
from movierec.errors import DataError, MovierecError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER

# --------------------------------------------------------------------------- hand-worked fixture
# 10 users, 20 movies, N = 100 ratings (counts chosen to make the arithmetic easy).
USER_COUNTS = [20, 18, 15, 12, 10, 8, 7, 5, 3, 2]  # sum 100
ITEM_COUNTS = [10, 10, 10, 9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2]  # sum 100
RATING_COUNTS = {1.0: 5, 2.0: 10, 3.0: 20, 4.0: 40, 5.0: 25}  # sum 100


@pytest.fixture
def hand() -> dict:
    users = pd.Series(USER_COUNTS, index=[f"u{i}" for i in range(10)])
    items = pd.Series(ITEM_COUNTS, index=range(100, 120))
    ratings = pd.Series(RATING_COUNTS)
    return summarize(users, items, ratings)


def _block_by(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def test_hand_sizes_and_sparsity(hand: dict) -> None:
    assert hand["ratings"] == 100
    assert hand["users"] == 10
    assert hand["items"] == 20
    # density = 100 / (10 * 20) = 0.5 ; sparsity = 1 - 0.5 = 0.5
    assert hand["density"] == pytest.approx(0.5)
    assert hand["sparsity"] == pytest.approx(0.5)


def test_hand_rating_moments_and_distribution(hand: dict) -> None:
    # mean = (1*5 + 2*10 + 3*20 + 4*40 + 5*25) / 100 = 370 / 100 = 3.7
    assert hand["rating_mean"] == pytest.approx(3.7)
    # E[r^2] = (1*5 + 4*10 + 9*20 + 16*40 + 25*25) / 100 = 1490 / 100 = 14.9
    # var = 14.9 - 3.7^2 = 14.9 - 13.69 = 1.21 ; std = 1.1
    assert hand["rating_std"] == pytest.approx(1.1)
    assert hand["rating_distribution"] == [
        {"rating": 1.0, "count": 5, "share": pytest.approx(0.05)},
        {"rating": 2.0, "count": 10, "share": pytest.approx(0.10)},
        {"rating": 3.0, "count": 20, "share": pytest.approx(0.20)},
        {"rating": 4.0, "count": 40, "share": pytest.approx(0.40)},
        {"rating": 5.0, "count": 25, "share": pytest.approx(0.25)},
    ]


def test_hand_user_activity(hand: dict) -> None:
    ua = hand["user_activity"]
    # ascending: 2 3 5 7 8 10 12 15 18 20
    assert ua["min"] == 2
    assert ua["max"] == 20
    assert ua["mean"] == pytest.approx(10.0)
    assert ua["median"] == pytest.approx(9.0)  # (8 + 10) / 2
    assert ua["p90"] == pytest.approx(18.2)  # position 0.9*9 = 8.1 -> 18 + 0.1*(20-18)
    assert ua["p99"] == pytest.approx(19.82)  # position 8.91 -> 18 + 0.91*2
    # Gini: coefficients (2i - 11) for i = 1..10 are -9 -7 -5 -3 -1 1 3 5 7 9
    # -9*2 -7*3 -5*5 -3*7 -1*8 = -93 ; 1*10 + 3*12 + 5*15 + 7*18 + 9*20 = 427
    # G = (427 - 93) / (10 * 100) = 334 / 1000
    assert ua["gini"] == pytest.approx(0.334)
    top = _block_by(ua["top_shares"], "top_fraction")
    # n = 10: ceil(0.1)=1, ceil(0.5)=1, ceil(1.0)=1 -> 20/100 ; ceil(2.0)=2 -> (20+18)/100
    assert {f: (r["count"], r["ratings_share"]) for f, r in top.items()} == {
        0.01: (1, pytest.approx(0.20)),
        0.05: (1, pytest.approx(0.20)),
        0.10: (1, pytest.approx(0.20)),
        0.20: (2, pytest.approx(0.38)),
    }
    cov = _block_by(ua["coverage"], "ratings_share")
    # cumulative (most active first): 20 38 53 65 75 83 ... ; >= 50 at 3 users, >= 80 at 6
    assert (cov[0.5]["count"], cov[0.5]["fraction"]) == (3, pytest.approx(0.3))
    assert (cov[0.8]["count"], cov[0.8]["fraction"]) == (6, pytest.approx(0.6))
    # fewer than 20 ratings: all but the user with 20 -> 9 / 10
    assert ua["light_users"] == {"threshold": 20, "count": 9, "share": pytest.approx(0.9)}


def test_hand_item_popularity(hand: dict) -> None:
    ip = hand["item_popularity"]
    # ascending: 2 2 2 2 2 3 3 3 3 4 4 5 5 6 7 8 9 10 10 10
    assert (ip["min"], ip["max"]) == (2, 10)
    assert ip["mean"] == pytest.approx(5.0)
    assert ip["median"] == pytest.approx(4.0)  # x[9] = x[10] = 4
    assert ip["p90"] == pytest.approx(10.0)  # position 17.1, x[17] = x[18] = 10
    assert ip["p99"] == pytest.approx(10.0)
    # Gini: coefficients (2i - 21), i = 1..20: -19 -17 ... -1 1 ... 19
    # negatives: -19*2 -17*2 -15*2 -13*2 -11*2 -9*3 -7*3 -5*3 -3*3 -1*4 = -226
    # positives: 1*4 + 3*5 + 5*5 + 7*6 + 9*7 + 11*8 + 13*9 + 15*10 + 17*10 + 19*10 = 864
    # G = (864 - 226) / (20 * 100) = 638 / 2000
    assert ip["gini"] == pytest.approx(0.319)
    top = _block_by(ip["top_shares"], "top_fraction")
    # n = 20: ceil(0.2)=1 -> 10/100 ; ceil(1)=1 -> 10/100 ; ceil(2)=2 -> 20/100 ;
    # ceil(4)=4 -> (10+10+10+9)/100
    assert {f: (r["count"], r["ratings_share"]) for f, r in top.items()} == {
        0.01: (1, pytest.approx(0.10)),
        0.05: (1, pytest.approx(0.10)),
        0.10: (2, pytest.approx(0.20)),
        0.20: (4, pytest.approx(0.39)),
    }
    cov = _block_by(ip["coverage"], "ratings_share")
    # cumulative: 10 20 30 39 47 54 | 60 65 70 74 78 81 -> 50 % at 6 movies, 80 % at 12
    assert (cov[0.5]["count"], cov[0.5]["fraction"]) == (6, pytest.approx(0.3))
    assert (cov[0.8]["count"], cov[0.8]["fraction"]) == (12, pytest.approx(0.6))
    # fewer than 5 ratings: five 2s, four 3s, two 4s = 11 of 20
    assert ip["cold_items"] == {"threshold": 5, "count": 11, "share": pytest.approx(0.55)}


def test_summary_is_json_ready(hand: dict) -> None:
    text = json.dumps(hand, allow_nan=False)
    assert json.loads(text) == hand
    assert set(hand) == {
        "ratings",
        "users",
        "items",
        "sparsity",
        "density",
        "rating_mean",
        "rating_std",
        "rating_distribution",
        "user_activity",
        "item_popularity",
    }


# --------------------------------------------------------------------------- reference


def _ref_gini(xs: list[int]) -> float:
    # Mean absolute difference form: G = sum_i sum_j |x_i - x_j| / (2 n^2 mean)
    n = len(xs)
    mean = sum(xs) / n
    return sum(abs(a - b) for a in xs for b in xs) / (2 * n * n * mean)


def _ref_percentile(xs: list[int], q: float) -> float:
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def _ref_block(xs: list[int], threshold: int) -> dict:
    n, total = len(xs), sum(xs)
    desc = sorted(xs, reverse=True)
    top = {}
    for f in (0.01, 0.05, 0.10, 0.20):
        k = max(1, math.ceil(round(f * n, 9)))
        top[f] = sum(desc[:k]) / total
    cov = {}
    for s in (0.5, 0.8):
        acc = 0
        for k, x in enumerate(desc, start=1):
            acc += x
            if acc >= s * total:
                cov[s] = k / n
                break
    return {
        "min": min(xs),
        "max": max(xs),
        "mean": total / n,
        "median": _ref_percentile(xs, 0.5),
        "p90": _ref_percentile(xs, 0.9),
        "p99": _ref_percentile(xs, 0.99),
        "gini": _ref_gini(xs),
        "top": top,
        "cov": cov,
        "below": sum(1 for x in xs if x < threshold) / n,
    }


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_against_plain_python_reference(seed: int) -> None:
    rng = random.Random(seed)
    n_users, n_items = rng.randint(30, 80), rng.randint(40, 120)
    scale = [x / 2 for x in range(1, 11)]
    pairs = set()
    for u in range(n_users):
        # skewed activity: a few heavy users
        k = min(n_items, 1 + int(rng.paretovariate(1.3) * 3))
        for m in rng.sample(range(n_items), k):
            pairs.add((u, m))
    rows = [(u, m, rng.choice(scale)) for u, m in sorted(pairs)]
    df = pd.DataFrame(rows, columns=[USER, ITEM, RATING])

    got = summarize(*counts_from_ratings(df))

    user_x = [sum(1 for r in rows if r[0] == u) for u in {r[0] for r in rows}]
    item_x = [sum(1 for r in rows if r[1] == m) for m in {r[1] for r in rows}]
    n = len(rows)
    assert got["ratings"] == n
    assert got["users"] == len(user_x)
    assert got["items"] == len(item_x)
    assert got["sparsity"] == pytest.approx(1 - n / (len(user_x) * len(item_x)))
    assert got["density"] + got["sparsity"] == pytest.approx(1.0)
    mean = sum(r[2] for r in rows) / n
    assert got["rating_mean"] == pytest.approx(mean)
    assert got["rating_std"] == pytest.approx(math.sqrt(sum((r[2] - mean) ** 2 for r in rows) / n))
    dist = {d["rating"]: d for d in got["rating_distribution"]}
    for value in {r[2] for r in rows}:
        c = sum(1 for r in rows if r[2] == value)
        assert dist[value]["count"] == c
        assert dist[value]["share"] == pytest.approx(c / n)
    assert sum(d["share"] for d in got["rating_distribution"]) == pytest.approx(1.0)

    for key, xs, thr, below_key in (
        ("user_activity", user_x, 20, "light_users"),
        ("item_popularity", item_x, 5, "cold_items"),
    ):
        ref = _ref_block(xs, thr)
        blk = got[key]
        for stat in ("min", "max", "mean", "median", "p90", "p99", "gini"):
            assert blk[stat] == pytest.approx(ref[stat]), (key, stat)
        for row in blk["top_shares"]:
            assert row["ratings_share"] == pytest.approx(ref["top"][row["top_fraction"]])
        for row in blk["coverage"]:
            assert row["fraction"] == pytest.approx(ref["cov"][row["ratings_share"]])
        assert blk[below_key]["share"] == pytest.approx(ref["below"])


# --------------------------------------------------------------------------- helpers & edges


def test_gini_extremes() -> None:
    assert gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    # one holder of everything among n: G = (n - 1) / n
    assert gini(np.array([0, 0, 0, 12])) == pytest.approx(0.75)
    assert gini(np.array([7])) == pytest.approx(0.0)


def test_n_top_rounding() -> None:
    assert n_top(0.10, 30) == 3  # 0.1 * 30 = 3.0000000000000004 must not round up to 4
    assert n_top(0.01, 5) == 1
    assert n_top(0.20, 11) == 3


def test_single_rating() -> None:
    s = summarize(pd.Series({1: 1}), pd.Series({9: 1}), pd.Series({4.5: 1}))
    assert s["sparsity"] == 0.0
    assert s["rating_mean"] == 4.5
    assert s["rating_std"] == 0.0
    assert s["user_activity"]["gini"] == 0.0
    assert s["item_popularity"]["coverage"][1]["count"] == 1


def test_zero_counts_ignored_for_entities_kept_in_distribution() -> None:
    s = summarize(pd.Series([3, 0, 1]), pd.Series([2, 2, 0]), pd.Series({1.0: 0, 3.0: 2, 5.0: 2}))
    assert (s["users"], s["items"], s["ratings"]) == (2, 2, 4)
    assert [d["count"] for d in s["rating_distribution"]] == [0, 2, 2]


def test_accepts_mappings() -> None:
    s = summarize({1: 2, 2: 1}, {10: 3}, {4.0: 3})
    assert s["ratings"] == 3


@pytest.mark.parametrize(
    ("users", "items", "ratings", "match"),
    [
        (pd.Series([], dtype="int64"), pd.Series([1]), pd.Series({4.0: 1}), "user_counts is empty"),
        (pd.Series([1]), pd.Series([], dtype="int64"), pd.Series({4.0: 1}), "item_counts is empty"),
        (pd.Series([1]), pd.Series([1]), pd.Series([], dtype="int64"), "rating_counts is empty"),
        (pd.Series([0, 0]), pd.Series([1]), pd.Series({4.0: 1}), "no entry with a positive"),
        (pd.Series([2]), pd.Series([1]), pd.Series({4.0: 1}), "disagree"),
        (pd.Series([-1, 2]), pd.Series([1]), pd.Series({4.0: 1}), "non-negative integer"),
        (pd.Series([1.5]), pd.Series([1]), pd.Series({4.0: 1}), "non-negative integer"),
        (pd.Series([np.nan]), pd.Series([1]), pd.Series({4.0: 1}), "missing"),
        (pd.Series([1]), pd.Series([1]), pd.Series({"x": 1}), "finite numeric rating"),
        (pd.Series([1]), pd.Series([1]), pd.Series({4.0: 0}), "sums to 0"),
    ],
)
def test_bad_input_raises_data_error(users, items, ratings, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=match):
        summarize(users, items, ratings)


# --------------------------------------------------------------------------- counts_from_ratings


def test_counts_from_ratings() -> None:
    df = pd.DataFrame(
        {
            USER: [1, 1, 1, 2, 2, 3],
            ITEM: [10, 20, 30, 10, 20, 10],
            RATING: [5.0, 4.0, 3.0, 4.0, 3.5, 4.0],
            TIMESTAMP: [0, 1, 2, 3, 4, 5],
        }
    )
    users, items, ratings = counts_from_ratings(df)
    assert users.to_dict() == {1: 3, 2: 2, 3: 1}
    assert items.to_dict() == {10: 3, 20: 2, 30: 1}
    assert ratings.to_dict() == {3.0: 1, 3.5: 1, 4.0: 3, 5.0: 1}
    assert all(s.name == "count" and s.dtype == "int64" for s in (users, items, ratings))
    s = summarize(users, items, ratings)
    # 6 ratings / (3 users * 3 movies) = 2/3 dense -> sparsity 1/3
    assert s["sparsity"] == pytest.approx(1 / 3)


def test_counts_from_ratings_errors() -> None:
    with pytest.raises(DataError, match="lacks column"):
        counts_from_ratings(pd.DataFrame({USER: [1], ITEM: [2]}))
    with pytest.raises(MovierecError, match="empty"):
        counts_from_ratings(pd.DataFrame({USER: [], ITEM: [], RATING: []}))
    with pytest.raises(DataError, match="rating"):
        counts_from_ratings(pd.DataFrame({USER: [1, 2], ITEM: [2, 3], RATING: [4.0, None]}))
