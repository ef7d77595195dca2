"""Tests of movierec.metrics: hand-worked fixtures, plain-Python references, edge cases."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError, DataError
from movierec.metrics import (
    METRIC_DEFINITIONS,
    beyond_accuracy,
    catalogue_coverage,
    catalogue_top_k,
    intra_list_diversity,
    novelty,
    pairwise_prf,
    personalisation,
    popularity_bias,
    rating_errors,
    within_test_top_k,
)
from movierec.schema import GENRES, ITEM, PREDICTION, RANK, RATING, USER

SEED = 20240607


# ============================================================== plain-Python references
# Deliberately naive: dicts, lists and loops only, no pandas/numpy.


def ref_rating_errors(actual: list[float], predicted: list[float]) -> dict[str, float]:
    n = len(actual)
    sq = 0.0
    ab = 0.0
    for a, p in zip(actual, predicted, strict=True):
        sq += (p - a) ** 2
        ab += abs(p - a)
    return {"mse": sq / n, "rmse": math.sqrt(sq / n), "mae": ab / n, "n": n}


def ref_pairwise(actual: list[float], predicted: list[float], t: float) -> dict[str, float]:
    tp = fp = fn = tn = 0
    for a, p in zip(actual, predicted, strict=True):
        if a >= t and p >= t:
            tp += 1
        elif p >= t:
            fp += 1
        elif a >= t:
            fn += 1
        else:
            tn += 1
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def ref_within_test(rows: list[tuple], k: int, t: float, use_item: bool) -> dict[str, float]:
    """rows: (user, item, actual, predicted) in frame order."""
    by_user: dict[object, list[tuple]] = defaultdict(list)
    for pos, (u, i, a, p) in enumerate(rows):
        by_user[u].append((i if use_item else pos, a, p))
    precs, recs = [], []
    for entries in by_user.values():
        ranked = sorted(entries, key=lambda e: (-e[2], e[0]))
        top = ranked[:k]
        n_rel = sum(1 for _, a, _ in entries if a >= t)
        n_rec = sum(1 for _, _, p in top if p >= t)
        n_both = sum(1 for _, a, p in top if a >= t and p >= t)
        precs.append(n_both / n_rec if n_rec else 0.0)
        recs.append(n_both / n_rel if n_rel else 0.0)
    p = sum(precs) / len(precs)
    r = sum(recs) / len(recs)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def ref_catalogue(recs: list[tuple], test: list[tuple], k: int, t: float) -> dict[str, float | int]:
    """recs: (user, item, rank); test: (user, item, rating)."""
    relevant: dict[object, set] = defaultdict(set)
    for u, i, r in test:
        if r >= t:
            relevant[u].add(i)
    lists: dict[object, dict[int, object]] = defaultdict(dict)
    for u, i, rank in recs:
        lists[u][rank] = i
    ps, rs, rns, ndcgs, aps, hits_ = [], [], [], [], [], []
    for u, rel_set in relevant.items():
        ranking = lists.get(u, {})
        hits = 0
        dcg = 0.0
        ap = 0.0
        for i in range(1, k + 1):
            if i in ranking and ranking[i] in rel_set:
                hits += 1
                dcg += 1.0 / math.log2(i + 1)
                ap += hits / i
        ideal = min(len(rel_set), k)
        idcg = sum(1.0 / math.log2(i + 1) for i in range(1, ideal + 1))
        ps.append(hits / k)
        rs.append(hits / len(rel_set))
        rns.append(hits / min(k, len(rel_set)))
        ndcgs.append(dcg / idcg)
        aps.append(ap / ideal)
        hits_.append(1.0 if hits else 0.0)
    n = len(ps)
    p = sum(ps) / n
    r = sum(rs) / n
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "ndcg": sum(ndcgs) / n,
        "map": sum(aps) / n,
        "hit_rate": sum(hits_) / n,
        "users": n,
        "recall_norm": sum(rns) / n,
    }


def assert_close(got: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


# ============================================================== seeded random fixtures

HALF_STARS = np.arange(1, 11) / 2.0  # 0.5 .. 5.0


@pytest.fixture(scope="module")
def random_test_predictions() -> pd.DataFrame:
    """~400 users, 1-20 test rows each, predictions on a 0.5 grid (many ties); every 7th
    user rates everything below 3 (no relevant items)."""
    rng = np.random.default_rng(SEED)
    frames = []
    for u in range(400):
        n = int(rng.integers(1, 21))
        items = rng.choice(300, size=n, replace=False)
        if u % 7 == 0:
            actual = rng.choice(HALF_STARS[:5], size=n)  # all <= 2.5
        else:
            actual = rng.choice(HALF_STARS, size=n)
        pred = np.clip(np.round((actual + rng.normal(0, 1.2, size=n)) * 2) / 2, 0.5, 5.0)
        frames.append(pd.DataFrame({USER: u + 1000, ITEM: items, RATING: actual, PREDICTION: pred}))
    df = pd.concat(frames, ignore_index=True)
    # shuffle rows so users are interleaved and the row order is not sorted
    return df.sample(frac=1.0, random_state=SEED).reset_index(drop=True)


@pytest.fixture(scope="module")
def random_catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recommendations and test ratings over 120 movies for ~450 users: some users have no
    relevant test movie, some have no recommendations, some have recommendations only."""
    rng = np.random.default_rng(SEED + 1)
    test_rows, rec_rows = [], []
    for u in range(450):
        if u < 420:  # users 420..449 appear only in recommendations
            n = int(rng.integers(1, 15))
            items = rng.choice(120, size=n, replace=False)
            pool = HALF_STARS[:5] if u % 9 == 0 else HALF_STARS
            for i, r in zip(items, rng.choice(pool, size=n), strict=True):
                test_rows.append((u, int(i), float(r)))
        if u % 6 != 0:  # every 6th user gets no recommendations
            length = int(rng.integers(1, 35))
            # bias the list toward low ids so hits are frequent
            items = rng.choice(120, size=length, replace=False, p=_decay(120))
            for rank, i in enumerate(items, start=1):
                rec_rows.append((u, int(i), rank))
    recs = pd.DataFrame(rec_rows, columns=[USER, ITEM, RANK])
    test = pd.DataFrame(test_rows, columns=[USER, ITEM, RATING])
    return recs.sample(frac=1.0, random_state=SEED).reset_index(drop=True), test


def _decay(n: int) -> np.ndarray:
    w = 1.0 / (1.0 + np.arange(n) / 10.0)
    return w / w.sum()


# ============================================================== rating_errors


def test_rating_errors_hand_case() -> None:
    # errors p - a = (3.5-4, 3-3, 4-5, 4-2) = (-0.5, 0, -1, 2)
    # squares 0.25 + 0 + 1 + 4 = 5.25 -> mse = 5.25/4 = 1.3125, rmse = sqrt(1.3125)
    # abs 0.5 + 0 + 1 + 2 = 3.5 -> mae = 0.875
    got = rating_errors([4, 3, 5, 2], [3.5, 3, 4, 4])
    assert got["n"] == 4
    assert got["mse"] == pytest.approx(1.3125)
    assert got["rmse"] == pytest.approx(1.1456439237389600)
    assert got["mae"] == pytest.approx(0.875)


def test_rating_errors_matches_reference() -> None:
    rng = np.random.default_rng(SEED)
    actual = rng.choice(HALF_STARS, size=5000)
    predicted = rng.normal(3.5, 1.0, size=5000)
    got = rating_errors(pd.Series(actual), predicted)
    assert_close(got, ref_rating_errors(actual.tolist(), predicted.tolist()))


def test_rating_errors_rejects_nan_empty_and_mismatch() -> None:
    with pytest.raises(DataError, match="NaN"):
        rating_errors([4.0, 3.0], [3.5, float("nan")])
    with pytest.raises(DataError, match="NaN"):
        rating_errors([np.nan, 3.0], [3.5, 3.0])
    with pytest.raises(DataError, match="empty"):
        rating_errors([], [])
    with pytest.raises(DataError):
        rating_errors([1.0, 2.0], [1.0])


# ============================================================== pairwise_prf


def test_pairwise_hand_case() -> None:
    # t = 3; (actual, predicted) -> class
    # (4, 3.5) TP | (3, 2.9) FN | (5, 4) TP | (2, 4) FP | (1, 2) TN | (3.5, 3.0) TP (>= at
    # the boundary) | (2.5, 3.2) FP
    # TP=3 FP=2 FN=1 TN=1; P = 3/5 = 0.6; R = 3/4 = 0.75; F1 = 2*.6*.75/1.35 = 2/3
    got = pairwise_prf([4, 3, 5, 2, 1, 3.5, 2.5], [3.5, 2.9, 4, 4, 2, 3.0, 3.2], threshold=3.0)
    assert (got["tp"], got["fp"], got["fn"], got["tn"], got["n"]) == (3, 2, 1, 1, 7)
    assert got["precision"] == pytest.approx(0.6)
    assert got["recall"] == pytest.approx(0.75)
    assert got["f1"] == pytest.approx(2 / 3)


def test_pairwise_zero_over_zero_is_zero() -> None:
    # nothing predicted >= 4: TP + FP = 0 -> precision 0; TP = 0 -> recall 0, f1 0
    got = pairwise_prf([5.0, 4.0, 1.0], [3.0, 2.0, 1.0], threshold=4.0)
    assert (got["tp"], got["fp"], got["fn"], got["tn"]) == (0, 0, 2, 1)
    assert got["precision"] == 0.0 and got["recall"] == 0.0 and got["f1"] == 0.0


@pytest.mark.parametrize("threshold", [2.5, 3.0, 4.0])
def test_pairwise_matches_reference(
    random_test_predictions: pd.DataFrame, threshold: float
) -> None:
    df = random_test_predictions
    got = pairwise_prf(df[RATING], df[PREDICTION], threshold=threshold)
    expected = ref_pairwise(df[RATING].tolist(), df[PREDICTION].tolist(), threshold)
    assert_close(got, expected)
    assert got["n"] == len(df)


def test_pairwise_rejects_nan_empty_bad_threshold() -> None:
    with pytest.raises(DataError, match="NaN"):
        pairwise_prf([4.0], [np.nan])
    with pytest.raises(DataError):
        pairwise_prf([], [])
    with pytest.raises(ConfigError):
        pairwise_prf([4.0], [4.0], threshold=float("nan"))


# ============================================================== within_test_top_k


def _within_fixture() -> pd.DataFrame:
    rows = [
        # user 1: sorted by prediction 101 (4.5), 102 (4.0), 103 (3.5), 104 (2.0)
        (1, 103, 5.0, 3.5),
        (1, 101, 4.0, 4.5),
        (1, 104, 3.0, 2.0),
        (1, 102, 2.0, 4.0),
        # user 2: 201 (4.0) then a tie at 3.0 between 203 and 202; 203 comes first in row
        # order, 202 first by ITEM ascending
        (2, 201, 4.0, 4.0),
        (2, 203, 5.0, 3.0),
        (2, 202, 1.0, 3.0),
        # user 3: nothing relevant
        (3, 301, 2.0, 3.5),
        (3, 302, 1.0, 1.0),
        # user 4: nothing recommended
        (4, 401, 5.0, 2.0),
    ]
    return pd.DataFrame(rows, columns=[USER, ITEM, RATING, PREDICTION])


def test_within_test_hand_case_k2() -> None:
    # t = 3, k = 2
    # u1: top2 = 101, 102; n_rel = |{101,103,104}| = 3; n_rec_k = 2; n_both = |{101}| = 1
    #     -> P = 1/2, R = 1/3
    # u2: top2 = 201, 202 (tie 202 < 203); n_rel = |{201,203}| = 2; n_rec_k = 2; n_both = 1
    #     -> P = 1/2, R = 1/2
    # u3: n_rel = 0, n_rec_k = 1 (301), n_both = 0 -> P = 0, R = 0
    # u4: n_rel = 1, n_rec_k = 0 -> P = 0, R = 0
    # P = (1/2 + 1/2 + 0 + 0)/4 = 0.25; R = (1/3 + 1/2)/4 = 5/24
    # F1 = 2 * 0.25 * 5/24 / (0.25 + 5/24) = (10/96) / (11/24) = 5/22
    got = within_test_top_k(_within_fixture(), k=2, threshold=3.0)
    assert got["k"] == 2 and got["users"] == 4
    assert got["precision"] == pytest.approx(0.25)
    assert got["recall"] == pytest.approx(5 / 24)
    assert got["f1"] == pytest.approx(5 / 22)


def test_within_test_tie_break_without_item_is_row_order() -> None:
    # Without ITEM the tie at 3.0 keeps row order: u2 top2 = 201, 203 -> n_both = 2
    #     -> P = 2/2 = 1, R = 2/2 = 1; other users unchanged
    # P = (1/2 + 1 + 0 + 0)/4 = 0.375; R = (1/3 + 1)/4 = 1/3
    # F1 = 2 * 0.375 * (1/3) / (0.375 + 1/3) = 0.25 / (17/24) = 6/17
    got = within_test_top_k(_within_fixture().drop(columns=[ITEM]), k=2, threshold=3.0)
    assert got["precision"] == pytest.approx(0.375)
    assert got["recall"] == pytest.approx(1 / 3)
    assert got["f1"] == pytest.approx(6 / 17)


def test_within_test_k_larger_than_lists() -> None:
    # k = 10 takes every test row:
    # u1: n_rec = 3 (4.5, 4.0, 3.5), n_both = |{101, 103}| = 2, n_rel = 3 -> P = 2/3, R = 2/3
    # u2: n_rec = 3, n_both = |{201, 203}| = 2, n_rel = 2 -> P = 2/3, R = 1
    # u3: P = 0, R = 0; u4: P = 0, R = 0
    # P = (4/3)/4 = 1/3; R = (5/3)/4 = 5/12; F1 = 2*(1/3)*(5/12) / (9/12) = 10/27
    got = within_test_top_k(_within_fixture(), k=10, threshold=3.0)
    assert got["precision"] == pytest.approx(1 / 3)
    assert got["recall"] == pytest.approx(5 / 12)
    assert got["f1"] == pytest.approx(10 / 27)


@pytest.mark.parametrize(("k", "threshold"), [(1, 3.0), (3, 3.5), (5, 3.0), (10, 4.0), (50, 3.0)])
@pytest.mark.parametrize("use_item", [True, False])
def test_within_test_matches_reference(
    random_test_predictions: pd.DataFrame, k: int, threshold: float, use_item: bool
) -> None:
    df = random_test_predictions
    if not use_item:
        df = df.drop(columns=[ITEM])
        rows = [
            (u, None, a, p) for u, a, p in zip(df[USER], df[RATING], df[PREDICTION], strict=True)
        ]
    else:
        rows = list(zip(df[USER], df[ITEM], df[RATING], df[PREDICTION], strict=True))
    got = within_test_top_k(df, k=k, threshold=threshold)
    assert_close(got, ref_within_test(rows, k, threshold, use_item))
    assert got["users"] == 400 and got["k"] == k


def test_within_test_errors() -> None:
    df = _within_fixture()
    with pytest.raises(ConfigError):
        within_test_top_k(df, k=0)
    with pytest.raises(ConfigError):
        within_test_top_k(df, k=2.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty"):
        within_test_top_k(df.iloc[0:0])
    with pytest.raises(DataError, match=PREDICTION):
        within_test_top_k(df.drop(columns=[PREDICTION]))
    bad = df.copy()
    bad.loc[3, PREDICTION] = np.nan
    with pytest.raises(DataError, match="missing value"):
        within_test_top_k(bad)


# ============================================================== catalogue_top_k


def _catalogue_fixture() -> tuple[pd.DataFrame, pd.DataFrame]:
    test = pd.DataFrame(
        [
            (1, 10, 5.0),
            (1, 20, 4.0),
            (1, 30, 2.0),
            (1, 40, 3.0),  # R_1 = {10, 20, 40}
            (2, 10, 1.0),
            (2, 50, 4.5),  # R_2 = {50}
            (3, 20, 2.5),  # R_3 = {} -> not evaluated
            (4, 60, 3.5),  # R_4 = {60}, no recommendations
        ],
        columns=[USER, ITEM, RATING],
    )
    recs = pd.DataFrame(
        [
            (1, 40, 4),  # a hit, but only at rank 4
            (1, 20, 1),
            (1, 70, 2),
            (1, 10, 3),
            (2, 60, 1),
            (2, 80, 2),
            (2, 50, 3),
            (3, 10, 1),  # ignored: user 3 has no relevant movie
            (5, 90, 1),  # ignored: user 5 has no test ratings
        ],
        columns=[USER, ITEM, RANK],
    )
    return recs, test


def test_catalogue_hand_case_k3() -> None:
    # t = 3, k = 3; evaluated users {1, 2, 4}
    # u1: hits at ranks 1 (20) and 3 (10); rank 4 (40) is beyond k
    #     P = 2/3, R = 2/3
    #     DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5
    #     IDCG (min(3,3)=3) = 1 + 1/log2(3) + 0.5 -> NDCG = 1.5 / (1.5 + 1/log2 3) = 0.70392
    #     AP = (P@1 + P@3) / 3 = (1 + 2/3) / 3 = 5/9; hit
    # u2: hit at rank 3 (50); P = 1/3, R = 1/1
    #     DCG = 1/log2(4) = 0.5, IDCG (min(1,3)=1) = 1 -> NDCG = 0.5
    #     AP = P@3 / 1 = 1/3; hit
    # u4: no list -> all 0
    # precision = (2/3 + 1/3 + 0)/3 = 1/3; recall = (2/3 + 1 + 0)/3 = 5/9
    # f1 = 2 * (1/3)(5/9) / (1/3 + 5/9) = (10/27) / (8/9) = 5/12
    # ndcg = (0.7039180890 + 0.5 + 0)/3 = 0.4013060297
    # map = (5/9 + 1/3 + 0)/3 = 8/27; hit_rate = 2/3
    recs, test = _catalogue_fixture()
    got = catalogue_top_k(recs, test, k=3, threshold=3.0)
    assert got["k"] == 3 and got["users"] == 3
    assert got["precision"] == pytest.approx(1 / 3)
    assert got["recall"] == pytest.approx(5 / 9)
    assert got["f1"] == pytest.approx(5 / 12)
    assert got["ndcg"] == pytest.approx(0.40130602967804485)
    assert got["ndcg"] == pytest.approx((1.5 / (1 + 1 / math.log2(3) + 0.5) + 0.5 + 0) / 3)
    assert got["map"] == pytest.approx(8 / 27)
    assert got["hit_rate"] == pytest.approx(2 / 3)
    # normalised recall = hits / min(k, |relevant|): u1 2/3, u2 1/1, u4 0 -> 5/9 (as recall:
    # no user has more than k = 3 relevant movies)
    assert got["recall_norm"] == pytest.approx(5 / 9)


def test_recall_and_normalised_recall_differ_when_more_relevant_than_k() -> None:
    # u1 has 4 relevant movies and a perfect 2-item list; u2 has 1 relevant, missed.
    test = pd.DataFrame(
        {USER: [1, 1, 1, 1, 2], ITEM: [5, 6, 7, 8, 9], RATING: [5.0, 4.0, 4.0, 3.0, 4.0]}
    )
    recs = pd.DataFrame({USER: [1, 1, 2, 2], ITEM: [6, 5, 1, 2], RANK: [1, 2, 1, 2]})
    got = catalogue_top_k(recs, test, k=2)
    assert got["recall"] == pytest.approx((2 / 4 + 0) / 2)  # hits / |relevant|
    assert got["recall_norm"] == pytest.approx((2 / 2 + 0) / 2)  # hits / min(k, |relevant|)


def test_catalogue_k_larger_than_lists() -> None:
    # k = 10 (lists have <= 4 items; precision still divides by k = 10)
    # u1: hits at ranks 1, 3, 4 -> P = 3/10, R = 3/3 = 1
    #     DCG = 1 + 1/log2(4) + 1/log2(5); IDCG (min(3,10)=3) = 1 + 1/log2(3) + 1/log2(4)
    #     AP = (1/1 + 2/3 + 3/4) / 3 = 29/36
    # u2: hit at rank 3 -> P = 1/10, R = 1; NDCG = 0.5 / 1; AP = (1/3) / 1
    # u4: 0
    # precision = (0.3 + 0.1)/3 = 2/15; recall = 2/3; f1 = 2*(2/15)(2/3)/(2/15 + 10/15) = 2/9
    recs, test = _catalogue_fixture()
    got = catalogue_top_k(recs, test, k=10, threshold=3.0)
    ndcg_u1 = (1 + 0.5 + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    assert got["precision"] == pytest.approx(2 / 15)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 9)
    assert got["ndcg"] == pytest.approx((ndcg_u1 + 0.5) / 3)
    assert got["map"] == pytest.approx((29 / 36 + 1 / 3) / 3)
    assert got["hit_rate"] == pytest.approx(2 / 3)


def test_catalogue_perfect_list_scores_one() -> None:
    test = pd.DataFrame({USER: [1, 1, 2], ITEM: [5, 6, 7], RATING: [5.0, 4.0, 4.0]})
    recs = pd.DataFrame({USER: [1, 1, 2, 2], ITEM: [6, 5, 7, 8], RANK: [1, 2, 1, 2]})
    got = catalogue_top_k(recs, test, k=2)
    # u1: 2 hits in 2 slots; u2: 1 hit at rank 1 of 1 relevant -> ndcg, map, recall = 1
    assert got["ndcg"] == pytest.approx(1.0)
    assert got["map"] == pytest.approx(1.0)
    assert got["recall"] == pytest.approx(1.0)
    assert got["precision"] == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize(("k", "threshold"), [(1, 3.0), (5, 3.0), (10, 4.0), (20, 3.5), (100, 3.0)])
def test_catalogue_matches_reference(
    random_catalogue: tuple[pd.DataFrame, pd.DataFrame], k: int, threshold: float
) -> None:
    recs, test = random_catalogue
    got = catalogue_top_k(recs, test, k=k, threshold=threshold)
    expected = ref_catalogue(
        list(zip(recs[USER], recs[ITEM], recs[RANK], strict=True)),
        list(zip(test[USER], test[ITEM], test[RATING], strict=True)),
        k,
        threshold,
    )
    assert_close(got, expected)
    assert got["k"] == k
    # the fixture must exercise the interesting cases
    evaluated = set(test.loc[test[RATING] >= threshold, USER])
    assert evaluated - set(recs[USER]), "some evaluated users should lack recommendations"
    assert set(test[USER]) - evaluated, "some test users should have no relevant movie"
    assert 0.0 < got["hit_rate"] < 1.0


def test_catalogue_errors() -> None:
    recs, test = _catalogue_fixture()
    with pytest.raises(ConfigError):
        catalogue_top_k(recs, test, k=0)
    with pytest.raises(DataError, match="empty"):
        catalogue_top_k(recs.iloc[0:0], test)
    with pytest.raises(DataError, match="empty"):
        catalogue_top_k(recs, test.iloc[0:0])
    with pytest.raises(DataError, match=RANK):
        catalogue_top_k(recs.drop(columns=[RANK]), test)
    with pytest.raises(DataError, match=RATING):
        catalogue_top_k(recs, test.drop(columns=[RATING]))
    with pytest.raises(DataError, match="threshold"):
        catalogue_top_k(recs, test, threshold=5.5)
    dup_rank = pd.concat([recs, pd.DataFrame({USER: [1], ITEM: [99], RANK: [1]})])
    with pytest.raises(DataError, match="rank"):
        catalogue_top_k(dup_rank, test)
    dup_item = pd.concat([recs, pd.DataFrame({USER: [1], ITEM: [20], RANK: [9]})])
    with pytest.raises(DataError, match="twice"):
        catalogue_top_k(dup_item, test)
    zero_rank = recs.assign(**{RANK: recs[RANK] - 1})
    with pytest.raises(DataError, match="1-based"):
        catalogue_top_k(zero_rank, test)
    nan_rating = test.assign(**{RATING: test[RATING].where(test.index != 0)})
    with pytest.raises(DataError, match="missing"):
        catalogue_top_k(recs, nan_rating)


# ============================================================== coverage and definitions


def test_catalogue_coverage() -> None:
    recs, _ = _catalogue_fixture()
    # distinct movies: 40, 20, 70, 10, 60, 80, 50, 90 -> 8 of 20
    assert catalogue_coverage(recs, n_items=20) == pytest.approx(8 / 20)
    # rank 1 only: 20, 60, 10, 90 -> 4 of 20
    assert catalogue_coverage(recs, n_items=20, k=1) == pytest.approx(4 / 20)
    with pytest.raises(ConfigError):
        catalogue_coverage(recs, n_items=0)
    with pytest.raises(DataError):
        catalogue_coverage(recs, n_items=5)  # 8 distinct > 5
    with pytest.raises(DataError):
        catalogue_coverage(recs.iloc[0:0], n_items=20)


def test_metric_definitions_cover_every_reported_key() -> None:
    recs, test = _catalogue_fixture()
    reported = {
        "rating_errors": rating_errors([1.0], [1.0]),
        "pairwise_prf": pairwise_prf([1.0], [1.0]),
        "within_test_top_k": within_test_top_k(_within_fixture()),
        "catalogue_top_k": catalogue_top_k(recs, test),
    }
    ba_recs, ba_train, ba_movies = _ba_fixture()
    reported["beyond_accuracy"] = beyond_accuracy(ba_recs, ba_train, ba_movies, 10, k=2)
    expected_keys = {f"{fn}.{key}" for fn, result in reported.items() for key in result}
    expected_keys |= {
        "catalogue_coverage",
        "novelty",
        "intra_list_diversity",
        "popularity_bias",
        "personalisation",
    }
    assert set(METRIC_DEFINITIONS) == expected_keys
    for key, text in METRIC_DEFINITIONS.items():
        assert text.strip() and "\n" not in text, key


# ============================================================== beyond accuracy (issue 5)


def _ba_fixture() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    # train: U = 4 users
    #   movie 10 rated by users 1, 2, 3, 4 -> p = 4/4 = 1    -> 0 bits;  4 ratings
    #   movie 20 rated by users 1, 2       -> p = 2/4 = 0.5  -> 1 bit;   2 ratings
    #   movie 30 rated by user 1           -> p = 1/4        -> 2 bits;  1 rating
    #   movie 40 rated by user 4           -> p = 1/4        -> 2 bits;  1 rating
    #   movie 50 never rated               -> p = 1/(4+1)    -> log2 5 bits; percentile 0
    # popularity percentiles over M = 4 movies, counts (4, 2, 1, 1): ascending ranks
    #   30, 40 tie at ranks 1, 2 -> 1.5 each; 20 -> 3; 10 -> 4; pct = rank / 4:
    #   10 -> 1.0, 20 -> 0.75, 30 -> 0.375, 40 -> 0.375
    train = pd.DataFrame(
        [(1, 10), (1, 20), (1, 30), (2, 10), (2, 20), (3, 10), (4, 10), (4, 40)],
        columns=[USER, ITEM],
    ).assign(**{RATING: 4.0})
    recs = pd.DataFrame(
        [
            (1, 10, 1),
            (1, 50, 2),
            (1, 20, 3),  # beyond k = 2
            (2, 30, 1),
            (2, 40, 2),
            (3, 20, 1),
            (3, 10, 2),
            (4, 30, 1),  # a one-movie list
        ],
        columns=[USER, ITEM, RANK],
    )
    movies = pd.DataFrame(
        {
            ITEM: [10, 20, 30, 40, 50, 60, 70],
            GENRES: [
                "Action|Comedy",
                "Comedy",
                "Drama|Romance",
                "(no genres listed)",
                "Action|Comedy|Drama",
                "",
                "Horror",
            ],
        }
    )
    return recs.sample(frac=1.0, random_state=1), train, movies


def test_novelty_hand_case() -> None:
    recs, train, _ = _ba_fixture()
    # k = 2: u1 {10: 0, 50: log2 5} -> log2(5)/2; u2 {30: 2, 40: 2} -> 2; u3 {20: 1, 10: 0}
    # -> 0.5; u4 {30: 2} -> 2.  mean = (log2(5)/2 + 2 + 0.5 + 2) / 4 = 1.4152410118609203
    assert novelty(recs, train, k=2) == pytest.approx(1.4152410118609203)
    assert novelty(recs, train, k=2) == pytest.approx((math.log2(5) / 2 + 4.5) / 4)
    # k = 1: u1 10 -> 0, u2 30 -> 2, u3 20 -> 1, u4 30 -> 2 -> 5/4
    assert novelty(recs, train, k=1) == pytest.approx(1.25)


def test_popularity_bias_hand_case() -> None:
    recs, train, _ = _ba_fixture()
    # k = 2: u1 (1.0 + 0)/2 = 0.5; u2 (0.375 + 0.375)/2 = 0.375; u3 (0.75 + 1.0)/2 = 0.875;
    # u4 0.375 -> (0.5 + 0.375 + 0.875 + 0.375)/4 = 2.125/4 = 0.53125
    assert popularity_bias(recs, train, k=2) == pytest.approx(0.53125)
    # k = 3 adds movie 20 (0.75) to u1: (1.0 + 0 + 0.75)/3 = 7/12
    # -> (7/12 + 0.375 + 0.875 + 0.375)/4 = 0.5520833333
    assert popularity_bias(recs, train, k=3) == pytest.approx((7 / 12 + 1.625) / 4)


def test_personalisation_hand_case() -> None:
    recs, _, _ = _ba_fixture()
    # k = 2: lists {10, 50}, {30, 40}, {20, 10}, {30}; movies in 2 lists: 10 (u1, u3) and
    # 30 (u2, u4) -> sum of pairwise overlaps = C(2,2) + C(2,2) = 2; pairs = C(4,2) = 6
    # personalisation = 1 - 2 / (2 * 6) = 5/6
    assert personalisation(recs, k=2) == pytest.approx(5 / 6)
    # k = 1: lists {10}, {30}, {20}, {30}: overlap 1 (30) -> 1 - 1/(1 * 6) = 5/6 as well
    assert personalisation(recs, k=1) == pytest.approx(5 / 6)
    # identical lists -> 0; disjoint lists -> 1
    same = pd.DataFrame({USER: [1, 1, 2, 2, 3, 3], ITEM: [7, 8] * 3, RANK: [1, 2] * 3})
    assert personalisation(same, k=2) == pytest.approx(0.0)
    apart = same.assign(**{ITEM: [1, 2, 3, 4, 5, 6]})
    assert personalisation(apart, k=2) == pytest.approx(1.0)


def test_intra_list_diversity_hand_case() -> None:
    recs, _, movies = _ba_fixture()
    # k = 2 (u4 has one movie: skipped)
    # u1: 10 {Action, Comedy} vs 50 {Action, Comedy, Drama}: 1 - 2/3 = 1/3
    # u2: 30 {Drama, Romance} vs 40 {} (no genres listed): 1 - 0/2 = 1
    # u3: 20 {Comedy} vs 10 {Action, Comedy}: 1 - 1/2 = 1/2
    # ILD = (1/3 + 1 + 1/2) / 3 = 11/18
    assert intra_list_diversity(recs, movies, k=2) == pytest.approx(11 / 18)
    # k = 3 makes u1's list 10, 50, 20: d(10,50) = 1/3, d(10,20) = 1/2, d(50,20) = 1 - 1/3
    # = 2/3 -> ILD(u1) = (1/3 + 1/2 + 2/3)/3 = 1/2 -> (1/2 + 1 + 1/2)/3 = 2/3
    assert intra_list_diversity(recs, movies, k=3) == pytest.approx(2 / 3)


def test_intra_list_diversity_empty_genre_sets() -> None:
    _, _, movies = _ba_fixture()
    # u1: 40 "(no genres listed)" and 60 "" -> both empty -> distance 0
    # u2: 10 {A, C}, 20 {C}, 30 {D, R}: d(10,20) = 1/2, d(10,30) = 1, d(20,30) = 1 -> 5/6
    # u3: 70 {Horror} vs 60 {} -> 1 ; mean = (0 + 5/6 + 1)/3 = 11/18
    recs = pd.DataFrame(
        [(1, 40, 1), (1, 60, 2), (2, 10, 1), (2, 20, 2), (2, 30, 3), (3, 70, 1), (3, 60, 2)],
        columns=[USER, ITEM, RANK],
    )
    assert intra_list_diversity(recs, movies, k=10) == pytest.approx(11 / 18)
    # a missing genre value is the empty set too
    nan_movies = movies.assign(**{GENRES: movies[GENRES].where(movies[ITEM] != 60)})
    assert intra_list_diversity(recs, nan_movies, k=10) == pytest.approx(11 / 18)


def test_beyond_accuracy_bundle() -> None:
    recs, train, movies = _ba_fixture()
    got = beyond_accuracy(recs, train, movies, n_items=10, k=2)
    assert set(got) == {"coverage", "novelty", "diversity", "popularity_bias", "personalisation"}
    # coverage at k = 2: movies 10, 50, 30, 40, 20 -> 5 of 10
    assert got["coverage"] == pytest.approx(0.5)
    assert got["novelty"] == pytest.approx((math.log2(5) / 2 + 4.5) / 4)
    assert got["diversity"] == pytest.approx(11 / 18)
    assert got["popularity_bias"] == pytest.approx(0.53125)
    assert got["personalisation"] == pytest.approx(5 / 6)
    assert beyond_accuracy(recs, train, None, n_items=10, k=2)["diversity"] is None
    # k = 1: no list of 2 -> diversity None; one user -> personalisation None
    assert beyond_accuracy(recs, train, movies, n_items=10, k=1)["diversity"] is None
    one = beyond_accuracy(recs[recs[USER] == 1], train, movies, n_items=10, k=2)
    assert one["personalisation"] is None and one["diversity"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------- plain-Python references


def ref_novelty(recs: list[tuple], train: list[tuple], k: int) -> float:
    users = {u for u, _ in train}
    raters: dict[object, set] = defaultdict(set)
    for u, i in train:
        raters[i].add(u)
    lists: dict[object, list] = defaultdict(list)
    for u, i, r in recs:
        if r <= k:
            lists[u].append(i)
    per_user = []
    for items in lists.values():
        bits = []
        for i in items:
            p = len(raters[i]) / len(users) if i in raters else 1 / (len(users) + 1)
            bits.append(-math.log2(p))
        per_user.append(sum(bits) / len(bits))
    return sum(per_user) / len(per_user)


def ref_popularity_bias(recs: list[tuple], train: list[tuple], k: int) -> float:
    count: dict[object, int] = defaultdict(int)
    for _, i in train:
        count[i] += 1
    m = len(count)
    pct = {}
    for i, c in count.items():
        below = sum(1 for d in count.values() if d < c)
        equal = sum(1 for d in count.values() if d == c)
        pct[i] = (below + (equal + 1) / 2) / m  # average of ranks below+1 .. below+equal
    lists: dict[object, list] = defaultdict(list)
    for u, i, r in recs:
        if r <= k:
            lists[u].append(pct.get(i, 0.0))
    means = [sum(v) / len(v) for v in lists.values()]
    return sum(means) / len(means)


def ref_personalisation(recs: list[tuple], k: int) -> float:
    lists: dict[object, set] = defaultdict(set)
    for u, i, r in recs:
        if r <= k:
            lists[u].add(i)
    users = sorted(lists)
    overlaps = [len(lists[a] & lists[b]) / k for x, a in enumerate(users) for b in users[x + 1 :]]
    return 1 - sum(overlaps) / len(overlaps)


def ref_diversity(recs: list[tuple], genres: dict[object, str], k: int) -> float:
    def genre_set(text: str) -> set:
        return {g for g in text.split("|") if g and g != "(no genres listed)"}

    lists: dict[object, list] = defaultdict(list)
    for u, i, r in recs:
        if r <= k:
            lists[u].append(i)
    per_user = []
    for items in lists.values():
        if len(items) < 2:
            continue
        dists = []
        for x in range(len(items)):
            for y in range(x + 1, len(items)):
                a, b = genre_set(genres[items[x]]), genre_set(genres[items[y]])
                dists.append(1 - len(a & b) / len(a | b) if a | b else 0.0)
        per_user.append(sum(dists) / len(dists))
    return sum(per_user) / len(per_user)


@pytest.fixture(scope="module")
def random_beyond() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """300 users' lists (1-25 movies, ranks with gaps) over 200 movies, 120 of them in train
    (so some recommended movies are unseen), skewed popularity, genres from 8 names with
    empty and "(no genres listed)" sets."""
    rng = np.random.default_rng(SEED + 2)
    names = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "War", "Musical"]
    genres = []
    for i in range(200):
        n = int(rng.integers(0, 4))
        genres.append(
            "(no genres listed)" if n == 0 and i % 2 else "|".join(rng.choice(names, n, False))
        )
    movies = pd.DataFrame({ITEM: np.arange(200), GENRES: genres})
    train_rows = set()
    for _ in range(3000):
        train_rows.add((int(rng.integers(0, 250)), int(rng.choice(120, p=_decay(120)))))
    train = pd.DataFrame(sorted(train_rows), columns=[USER, ITEM])
    train = pd.concat([train, train.iloc[::5]], ignore_index=True)  # repeated pairs
    rec_rows = []
    for u in range(300):
        length = int(rng.integers(1, 26))
        items = rng.choice(200, size=length, replace=False, p=_decay(200))
        ranks = np.sort(rng.choice(40, size=length, replace=False)) + 1
        rec_rows += [(u, int(i), int(r)) for i, r in zip(items, ranks, strict=True)]
    recs = pd.DataFrame(rec_rows, columns=[USER, ITEM, RANK])
    return recs.sample(frac=1.0, random_state=SEED).reset_index(drop=True), train, movies


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_beyond_accuracy_matches_reference(
    random_beyond: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], k: int
) -> None:
    recs, train, movies = random_beyond
    r = list(zip(recs[USER], recs[ITEM], recs[RANK], strict=True))
    t = list(zip(train[USER], train[ITEM], strict=True))
    g = dict(zip(movies[ITEM], movies[GENRES], strict=True))
    assert novelty(recs, train, k) == pytest.approx(ref_novelty(r, t, k), rel=1e-12)
    assert popularity_bias(recs, train, k) == pytest.approx(ref_popularity_bias(r, t, k), rel=1e-12)
    assert personalisation(recs, k) == pytest.approx(ref_personalisation(r, k), rel=1e-12)
    got = beyond_accuracy(recs, train, movies, n_items=200, k=k)
    assert got["coverage"] == catalogue_coverage(recs, 200, k)
    assert got["novelty"] == pytest.approx(ref_novelty(r, t, k), rel=1e-12)
    assert got["personalisation"] == pytest.approx(ref_personalisation(r, k), rel=1e-12)
    if k == 1:
        assert got["diversity"] is None
    else:
        expected = ref_diversity(r, g, k)
        assert intra_list_diversity(recs, movies, k) == pytest.approx(expected, rel=1e-12)
        assert got["diversity"] == pytest.approx(expected, rel=1e-12)
    # the fixture exercises unseen movies, users whose list starts beyond k, short lists
    assert not set(recs.loc[recs[RANK] <= k, ITEM]) <= set(train[ITEM])


def test_intra_list_diversity_chunks_agree(
    random_beyond: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    # many users with long lists -> several chunks; same answer as the reference
    recs, _, movies = random_beyond
    big = pd.concat([recs.assign(**{USER: recs[USER] + 1000 * c}) for c in range(40)])
    r = list(zip(recs[USER], recs[ITEM], recs[RANK], strict=True))
    g = dict(zip(movies[ITEM], movies[GENRES], strict=True))
    assert intra_list_diversity(big, movies, 40) == pytest.approx(ref_diversity(r, g, 40))


def test_personalisation_160k_users_closed_form() -> None:
    # 160,000 users in 16 groups of 10,000; a group shares one list of 10 movies, groups
    # share nothing. Overlap sum = 16 groups * 10 movies * C(10000, 2);
    # pairs = C(160000, 2) -> 1 - 16*10*10000*9999 / (10 * 160000*159999) = 150000/159999
    users = np.arange(160_000)
    group = users // 10_000
    recs = pd.DataFrame(
        {
            USER: np.repeat(users, 10),
            ITEM: (np.repeat(group, 10) * 10 + np.tile(np.arange(10), 160_000)),
            RANK: np.tile(np.arange(1, 11), 160_000),
        }
    )
    assert personalisation(recs, k=10) == pytest.approx(150_000 / 159_999, rel=1e-12)


def test_beyond_accuracy_errors() -> None:
    recs, train, movies = _ba_fixture()
    with pytest.raises(ConfigError):
        novelty(recs, train, k=0)
    with pytest.raises(ConfigError):
        personalisation(recs, k=2.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty"):
        novelty(recs.iloc[0:0], train)
    with pytest.raises(DataError, match="train is empty"):
        popularity_bias(recs, train.iloc[0:0])
    with pytest.raises(DataError, match=ITEM):
        novelty(recs, train.drop(columns=[ITEM]))
    with pytest.raises(DataError, match=RANK):
        personalisation(recs.drop(columns=[RANK]))
    with pytest.raises(DataError, match="rank <= 2"):
        novelty(recs.assign(**{RANK: recs[RANK] + 5}), train, k=2)
    with pytest.raises(DataError, match="twice"):
        personalisation(pd.concat([recs, pd.DataFrame({USER: [1], ITEM: [10], RANK: [9]})]))
    with pytest.raises(DataError, match="only 1 user"):
        personalisation(recs[recs[USER] == 2])
    with pytest.raises(DataError, match="at least 2 movies"):
        intra_list_diversity(recs, movies, k=1)
    with pytest.raises(DataError, match=r"1 recommended movie\(s\) are not in the movies table"):
        intra_list_diversity(recs, movies[movies[ITEM] != 50], k=2)
    with pytest.raises(DataError, match="more than once"):
        intra_list_diversity(recs, pd.concat([movies, movies.iloc[:1]]), k=2)
    with pytest.raises(DataError, match=GENRES):
        intra_list_diversity(recs, movies.drop(columns=[GENRES]), k=2)
    with pytest.raises(ConfigError):
        beyond_accuracy(recs, train, movies, n_items=0, k=2)
    with pytest.raises(DataError, match="only 4"):
        beyond_accuracy(recs, train, movies, n_items=4, k=2)  # 5 distinct movies > 4
