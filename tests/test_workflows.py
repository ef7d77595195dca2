"""workflows.train / evaluate / recommend: the CLI's results from a notebook, and every model
kind through train -> evaluate -> recommend (issue 17: implicit-als outside `run`).

The local engine on 20,000 ratings of ml-latest-small, so no JVM and a few seconds each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from movierec.cli import cli
from movierec.config import build_config
from movierec.jsonio import dumps
from movierec.model_io import load_model_dir
from movierec.workflows import (
    RATING_METRICS,
    EvaluationResult,
    evaluate,
    predicts_ratings,
    recommend,
    train,
)

K, THRESHOLD = 10, 3.0


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def split_files(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> tuple[Path, Path]:
    """Train and test files of the first 20,000 ratings (a seeded 80/20 random split)."""
    from movierec.split import random_split

    ratings = pd.read_csv(ml_small / "ratings.csv").iloc[:20_000]
    canon = ratings.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    tr, te = random_split(canon, 0.2, seed=1)
    folder = tmp_path_factory.mktemp("split")
    tr.to_csv(folder / "train.csv", index=False)
    te.to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def config(data: Path, ml_small: Path | None = None, **als: Any) -> Any:
    overrides: dict[str, Any] = {
        "engine": "local",
        "data": {"path": data, "movies": ml_small / "movies.csv" if ml_small else None},
        "als": {"rank": 8, "max_iter": 5, **als},
    }
    return build_config(None, overrides)


@pytest.fixture(scope="module")
def implicit_model(
    tmp_path_factory: pytest.TempPathFactory, split_files: tuple[Path, Path], ml_small: Path
) -> Path:
    out = tmp_path_factory.mktemp("implicit") / "model"
    result = invoke(
        ["train", "--engine", "local", "--data", str(split_files[0]), "--movies",
         str(ml_small / "movies.csv"), "--out", str(out), "--model", "implicit-als",
         "--rank", "8", "--max-iter", "5", "--alpha", "2", "--json", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["training_fit"] is None  # preferences are not ratings: no training RMSE
    assert info["params"]["model"] == "implicit-als" and info["params"]["alpha"] == 2.0
    return out


def independent_top_k(model: Path, test: pd.DataFrame) -> dict[str, float]:
    """Precision, recall and NDCG@K computed here from factors.npz and the training ratings:
    scores x_u·y_i, training movies excluded, ties to the lower movie id; users with a
    relevant test movie (rating >= THRESHOLD) evaluated, an unknown user with no hits."""
    with np.load(model / "factors.npz") as z:
        uids, uf = z["user_ids"], z["user_factors"].astype(np.float64)
        iids, itf = z["item_ids"], z["item_factors"].astype(np.float64)
    order = np.argsort(iids)
    iids, itf = iids[order], itf[order]
    train = pd.read_parquet(model / "train_ratings.parquet")
    seen = train.groupby("user_id")["movie_id"].apply(set)
    relevant = test.loc[test["rating"] >= THRESHOLD].groupby("user_id")["movie_id"].apply(set)
    row_of = {int(u): i for i, u in enumerate(uids)}
    precision, recall, ndcg = [], [], []
    for user, rel in relevant.items():
        hits = np.zeros(K)
        if user in row_of:
            scores = itf @ uf[row_of[user]]
            scores[np.isin(iids, list(seen.get(user, set())))] = -np.inf
            top = iids[np.argsort(-scores, kind="stable")[:K]]
            hits = np.array([m in rel for m in top], dtype=np.float64)
        gains = 1.0 / np.log2(np.arange(2, K + 2))
        precision.append(hits.sum() / K)
        recall.append(hits.sum() / len(rel))
        ndcg.append((hits * gains).sum() / gains[: min(len(rel), K)].sum())
    return {"precision": np.mean(precision), "recall": np.mean(recall), "ndcg": np.mean(ndcg)}


def test_implicit_model_is_evaluated_on_ranking_metrics_only(
    implicit_model: Path, split_files: tuple[Path, Path]
) -> None:
    assert load_model_dir(implicit_model).params.model == "implicit-als"
    result = invoke(
        ["evaluate", "--model", str(implicit_model), "--data", str(split_files[1]),
         "--baselines", "--json", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert not set(RATING_METRICS) & set(metrics)
    assert "preferences for ranking, not predicted ratings" in metrics["rating_metrics"]
    assert set(metrics["baselines"]) == {"most_popular"}
    assert metrics["model"] == "implicit-als" and metrics["k"] == K

    test = pd.read_csv(split_files[1])
    want = independent_top_k(implicit_model, test)
    got = metrics["catalogue_top_k"]
    for key in ("precision", "recall", "ndcg"):
        assert got[key] == pytest.approx(want[key], abs=2e-3), key
    # Not a degenerate model: it ranks far above chance on this data.
    assert got["precision"] > 0.05

    table = invoke(["evaluate", "--model", str(implicit_model), "--data", str(split_files[1])])
    assert table.exit_code == 0, table.output
    note = [line for line in table.stdout.splitlines() if "no rating metrics" in line]
    assert len(note) == 1 and "implicit-als scores are preferences" in note[0]


def test_library_functions_give_the_cli_results(
    implicit_model: Path, split_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = config(split_files[1])
    result = evaluate(cfg, implicit_model)
    assert isinstance(result, EvaluationResult) and result.ranking_only
    cli_json = invoke(
        ["evaluate", "--model", str(implicit_model), "--data", str(split_files[1]), "--json"]
    )
    assert json.loads(cli_json.stdout) == json.loads(json.dumps(result.metrics))

    recs = recommend(cfg, implicit_model, ["1", "7"], n=5, liked=3)
    cli_recs = invoke(
        ["recommend", "--model", str(implicit_model), "--user", "1,7", "--n", "5", "--json"]
    )
    assert json.loads(cli_recs.stdout) == json.loads(dumps(recs.table.to_dict(orient="records")))
    assert recs.liked is not None and set(recs.liked["user_id"]) == {1, 7}
    assert list(recs.table.groupby("user_id")["rank"].max()) == [5, 5]

    out = tmp_path / "recs.csv"
    every = recommend(cfg, implicit_model, None, n=2, out=out)
    assert every.users is None and every.files == [out]
    pd.testing.assert_frame_equal(pd.read_csv(out), every.table, check_dtype=False)


@pytest.mark.parametrize("kind", ["als", "biased-als", "implicit-als"])
def test_every_model_kind_trains_evaluates_and_recommends(
    kind: str, split_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    trained = train(config(split_files[0], model=kind), out)
    assert trained.params.model == kind and trained.ratings == len(pd.read_csv(split_files[0]))
    assert (trained.training_fit is None) == (not predicts_ratings(kind))
    assert load_model_dir(out).params.model == kind

    metrics = evaluate(config(split_files[1]), out).metrics
    assert ("rmse" in metrics) == predicts_ratings(kind)
    assert 0.0 < metrics["catalogue_top_k"]["ndcg"] <= 1.0
    if predicts_ratings(kind):
        assert 0.7 < metrics["rmse"] < 1.3 and "rating_metrics" not in metrics

    recs = recommend(config(split_files[1]), out, ["1"], n=3)
    seen = set(pd.read_csv(split_files[0]).query("user_id == 1")["movie_id"])
    assert len(recs.table) == 3 and not seen & set(recs.table["movie_id"])


def test_train_quiet_prints_nothing(split_files: tuple[Path, Path], tmp_path: Path) -> None:
    """Issue 16: `train -q` printed its summary line; -q means only errors."""
    args = ["train", "--engine", "local", "--data", str(split_files[0]), "--max-iter", "2"]
    quiet = invoke([*args, "--out", str(tmp_path / "a"), "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == "" and quiet.stderr == ""
    assert (tmp_path / "a" / "model.json").is_file()
    normal = invoke([*args, "--out", str(tmp_path / "b")])
    assert normal.stdout.startswith(f"model written to {tmp_path / 'b'}: 16,")
    as_json = invoke([*args, "--out", str(tmp_path / "c"), "-q", "--json"])
    assert json.loads(as_json.stdout)["model"] == str(tmp_path / "c")


def test_unknown_user_and_empty_request(
    implicit_model: Path, split_files: tuple[Path, Path]
) -> None:
    from movierec.errors import ConfigError

    cfg = config(split_files[1])
    with pytest.raises(ConfigError, match="unknown user id"):
        recommend(cfg, implicit_model, ["999999"])
    with pytest.raises(ConfigError, match="no user ids"):
        recommend(cfg, implicit_model, [])


def test_similar_reads_an_implicit_model(implicit_model: Path) -> None:
    result = invoke(
        ["similar", "--model", str(implicit_model), "--movie", "1", "--k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["movie_id"] == 1 and len(got["similar"]) == 3
