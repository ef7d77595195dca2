"""evaluate(): cold-start rows left out and counted, baselines on the same rows, every key present.

A numpy stand-in for a trained model makes the expected numbers computable by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.engines.base import ALSParams, EngineData, Factors, TrainedModel
from movierec.evaluation import evaluate
from movierec.schema import ITEM, RANK, RATING, SCORE, USER


class Data(EngineData):
    def __init__(self, ratings: pd.DataFrame) -> None:
        self._ratings = ratings

    @property
    def ratings(self) -> pd.DataFrame:
        return self._ratings


class TableModel(TrainedModel):
    """Predicts from a fixed {(user, movie): score} table; unknown pairs are NaN."""

    def __init__(self, scores: dict[tuple[int, int], float]) -> None:
        self.scores = scores
        self.params = ALSParams()

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return np.array(
            [self.scores.get((u, i), np.nan) for u, i in zip(pairs[USER], pairs[ITEM])], dtype=float
        )

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        seen = set() if exclude is None else set(zip(exclude.ratings[USER], exclude.ratings[ITEM]))
        rows = []
        for u in sorted({u for u, _ in self.scores} if users is None else set(users.tolist())):
            cands = sorted(
                (-s, i) for (uu, i), s in self.scores.items() if uu == u and (u, i) not in seen
            )
            rows += [(u, i, -s, r + 1) for r, (s, i) in enumerate(cands[:n])]
        return pd.DataFrame(rows, columns=[USER, ITEM, SCORE, RANK])

    def factors(self) -> Factors:  # pragma: no cover - not used here
        raise AssertionError

    def save(self, path: Path) -> None:  # pragma: no cover - not used here
        raise AssertionError


def test_evaluate_by_hand() -> None:
    train = pd.DataFrame({USER: [1, 1, 2, 2], ITEM: [10, 11, 10, 12], RATING: [4.0, 2.0, 5.0, 3.0]})
    test = pd.DataFrame({USER: [1, 2, 2, 3], ITEM: [12, 11, 13, 10], RATING: [5.0, 2.0, 4.0, 3.0]})
    # Movie 13 and user 3 are not in training: (2, 13) and (3, 10) are cold start (NaN).
    model = TableModel({(1, 12): 4.0, (2, 11): 3.0, (1, 13): 1.0})
    out = evaluate(model, Data(train), test, k=2, threshold=3.0)
    # Scored rows: (1,12) 4 vs 5 and (2,11) 3 vs 2 -> errors 1 and 1.
    assert out["n"] == 2
    assert out["rmse"] == pytest.approx(1.0) and out["mae"] == pytest.approx(1.0)
    assert out["coverage"] == {
        "test_rows": 4,
        "unknown_user_rows": 1,
        "unknown_movie_rows": 1,
        "cold_start_rows": 2,
        "scored_rows": 2,
    }
    # Pairwise, t=3: (1,12) predicted 4, actual 5 -> TP; (2,11) predicted 3, actual 2 -> FP.
    assert (out["pairwise"]["tp"], out["pairwise"]["fp"], out["pairwise"]["fn"]) == (1, 1, 0)
    # Catalogue top-2 (seen excluded). User 1: [12, 13], relevant {12} -> P 1/2, R 1.
    # User 2: [11], relevant {13} -> 0, 0. User 3: no list, relevant {10} -> 0, 0.
    cat = out["catalogue_top_k"]
    assert cat["users"] == 3
    assert cat["precision"] == pytest.approx(0.5 / 3)
    assert cat["recall"] == pytest.approx(1 / 3)
    assert cat["hit_rate"] == pytest.approx(1 / 3)
    # Baselines are scored on exactly the same two rows.
    mu = train[RATING].mean()  # 3.5
    gm = out["baselines"]["global_mean"]
    assert gm["n"] == 2
    assert gm["rmse"] == pytest.approx(np.sqrt(((mu - 5) ** 2 + (mu - 2) ** 2) / 2))
    assert set(out["baselines"]) == {"global_mean", "bias", "most_popular"}
    assert out["model"] == "als" and out["k"] == 2 and out["threshold"] == 3.0


def test_nothing_predictable_is_an_error() -> None:
    from movierec.errors import DataError

    train = pd.DataFrame({USER: [1], ITEM: [10], RATING: [4.0]})
    test = pd.DataFrame({USER: [2], ITEM: [11], RATING: [4.0]})
    with pytest.raises(DataError, match="no test rating can be predicted"):
        evaluate(TableModel({}), Data(train), test)


# --------------------------------------------------------------------------- issue 16: test rows


def test_evaluate_accounts_for_every_test_row(tmp_path: Path) -> None:
    """Issue 16: `evaluate` no longer drops unknown or invalid test rows with only a warning:
    --json counts them per reason, --rejects lists them with their line numbers, and read =
    scored + rejected."""
    import json

    from click.testing import CliRunner

    from movierec.cli import cli

    rng = np.random.default_rng(16)
    train_rows = [
        (u, int(i), float(rng.integers(1, 6)))
        for u in range(1, 31)
        for i in sorted({1 + (u % 20), *rng.choice(np.arange(1, 21), 8, replace=False)})
    ]
    train = tmp_path / "train.csv"
    pd.DataFrame(train_rows, columns=["userId", "movieId", "rating"]).to_csv(train, index=False)
    model = tmp_path / "model"
    run = CliRunner().invoke(
        cli,
        ["train", "--engine", "local", "--data", str(train), "--out", str(model),
         "--rank", "3", "--max-iter", "2", "-q"],
        catch_exceptions=False,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    test_lines = [
        "userId,movieId,rating",  # 1
        "1,1,4",  # 2 scored
        "2,3,5",  # 3 scored
        "99,1,3",  # 4 unknown user
        "1,77,2",  # 5 unknown movie
        "98,78,2",  # 6 unknown user (checked first)
        "3,x,4",  # 7 bad_movie_id
        "4,2,9",  # 8 rating_out_of_range
        "5,5",  # 9 wrong_field_count
        "6,6,3",  # 10 scored
    ]
    test = tmp_path / "test.csv"
    test.write_text("\n".join(test_lines) + "\n")
    rejects = tmp_path / "eval_rejects.csv"
    res = CliRunner().invoke(
        cli,
        ["evaluate", "--model", str(model), "--data", str(test), "--json", "--rejects",
         str(rejects), "-q"],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = out["test_rows"]
    assert rows == {
        "read": 9,
        "scored": 3,
        "rejected": {
            "wrong_field_count": 1,
            "bad_movie_id": 1,
            "rating_out_of_range": 1,
            "unknown_user": 2,
            "unknown_movie": 1,
        },
    }
    assert rows["read"] == rows["scored"] + sum(rows["rejected"].values())
    assert out["coverage"]["scored_rows"] == rows["scored"]  # the rows the metrics used
    back = pd.read_csv(rejects, keep_default_na=False)
    assert back["line"].tolist() == [4, 5, 6, 7, 8, 9]
    assert back["reason"].tolist() == [
        "unknown_user", "unknown_movie", "unknown_user", "bad_movie_id",
        "rating_out_of_range", "wrong_field_count",
    ]  # fmt: skip
    assert back["raw"].tolist() == [test_lines[k - 1] for k in (4, 5, 6, 7, 8, 9)]
