"""`movierec evaluate-protocol` on split files written from ml-latest-small, checked against
plain engine fits and numpy RMSE/MAE per fold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from movierec.cli import cli
from movierec.engines.base import ALSParams
from movierec.engines.local_als import LocalEngine
from movierec.errors import ConfigError
from movierec.protocol import expand_braces, parse_folds_from
from movierec.schema import ITEM, RATING, TIMESTAMP, USER
from movierec.split import kfold

FOLDS = 3
MODEL_ARGS = ["--rank", "6", "--reg-param", "0.1", "--max-iter", "5", "--bias-reg", "4"]


@pytest.fixture(scope="module")
def ratings(ml_small: Path) -> pd.DataFrame:
    df = pd.read_csv(ml_small / "ratings.csv").rename(
        columns={"userId": USER, "movieId": ITEM, "timestamp": TIMESTAMP}
    )
    return df.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64})


@pytest.fixture(scope="module")
def split_dir(ratings: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """u1..u3.base/.test in the ml-100k layout (tab-separated, no header), folds seed 42."""
    folder = tmp_path_factory.mktemp("splits")
    for k, (train, test) in enumerate(kfold(ratings, FOLDS, 42), start=1):
        train.to_csv(folder / f"u{k}.base", sep="\t", header=False, index=False)
        test.to_csv(folder / f"u{k}.test", sep="\t", header=False, index=False)
    return folder


def _independent(folds: list[tuple[pd.DataFrame, pd.DataFrame]], model: str) -> np.ndarray:
    """(rmse, mae) per fold: a plain engine fit, clip to the training range, numpy errors."""
    engine = LocalEngine()
    params = ALSParams(model=model, rank=6, reg_param=0.1, max_iter=5, bias_reg=4.0, seed=42)
    out = []
    for train, test in folds:
        raw = engine.fit(engine.data(train), params).predict(test)
        lo, hi = train[RATING].min(), train[RATING].max()
        ok = ~np.isnan(raw)
        err = np.clip(raw[ok], lo, hi) - test[RATING].to_numpy()[ok]
        out.append((np.sqrt(np.mean(err**2)), np.mean(np.abs(err))))
    return np.array(out)


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(cli, ["evaluate-protocol", "--engine", "local", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_brace_expansion() -> None:
    assert expand_braces("u{1..3}.base") == ["u1.base", "u2.base", "u3.base"]
    assert expand_braces("u{3..1}") == ["u3", "u2", "u1"]
    assert expand_braces("{a,b}{1..2}") == ["a1", "a2", "b1", "b2"]
    assert expand_braces("plain.csv") == ["plain.csv"]
    pairs = parse_folds_from("u{1..2}.base:u{1..2}.test", Path("/d"))
    assert pairs == [
        (Path("/d/u1.base"), Path("/d/u1.test")),
        (Path("/d/u2.base"), Path("/d/u2.test")),
    ]
    with pytest.raises(ConfigError, match="pair up"):
        parse_folds_from("u{1..3}.base:u{1..2}.test")
    with pytest.raises(ConfigError, match="TRAIN_PATTERN"):
        parse_folds_from("u1.base")


def test_split_files_match_an_independent_computation(
    ratings: pd.DataFrame, split_dir: Path
) -> None:
    out = _run(
        [
            "--model",
            "biased-als",
            *MODEL_ARGS,
            "--dir",
            str(split_dir),
            "--folds-from",
            f"u{{1..{FOLDS}}}.base:u{{1..{FOLDS}}}.test",
            "--json",
        ]
    )
    folds = kfold(ratings, FOLDS, 42)
    want = _independent(folds, "biased-als")
    got = np.array([(f["rmse"], f["mae"]) for f in out["folds"]])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert out["rmse_mean"] == pytest.approx(want[:, 0].mean(), rel=1e-9)
    assert out["rmse_std"] == pytest.approx(want[:, 0].std(ddof=0), rel=1e-9)
    assert out["mae_mean"] == pytest.approx(want[:, 1].mean(), rel=1e-9)
    for f, (train, test) in zip(out["folds"], folds):
        assert f["train_ratings"] == len(train) and f["test_ratings"] == len(test)
        unknown = ~(test[USER].isin(train[USER]) & test[ITEM].isin(train[ITEM]))
        assert f["cold_start_rows"] == int(unknown.sum()) > 0
        assert f["scored_rows"] == len(test) - f["cold_start_rows"]
        assert f["clipped_to"] == [0.5, 5.0]
    # The same folds given as seeded random folds of the whole file give the same numbers.
    seeded = _run(
        [
            "--model",
            "biased-als",
            *MODEL_ARGS,
            "--data",
            str(_write_all(ratings, split_dir)),
            "--folds",
            str(FOLDS),
            "--seed",
            "42",
            "--json",
        ]
    )
    assert [f["rmse"] for f in seeded["folds"]] == pytest.approx(got[:, 0].tolist(), rel=1e-9)


def _write_all(ratings: pd.DataFrame, folder: Path) -> Path:
    path = folder / "all.csv"
    if not path.exists():
        ratings.rename(columns={USER: "userId", ITEM: "movieId"}).to_csv(path, index=False)
    return path


def test_repeated_fold_option_and_plain_als(ratings: pd.DataFrame, split_dir: Path) -> None:
    out = _run(
        [
            "--model",
            "als",
            *MODEL_ARGS,
            "--fold",
            str(split_dir / "u2.base"),
            str(split_dir / "u2.test"),
            "--json",
        ]
    )
    want = _independent([kfold(ratings, FOLDS, 42)[1]], "als")
    assert [out["folds"][0]["rmse"], out["folds"][0]["mae"]] == pytest.approx(
        want[0].tolist(), rel=1e-9
    )
    assert out["rmse_std"] == 0.0 and out["params"]["model"] == "als"


def test_table_output(split_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "evaluate-protocol",
            "--engine",
            "local",
            "-q",
            *MODEL_ARGS,
            "--folds-from",
            f"{split_dir}/u{{1..2}}.base:{split_dir}/u{{1..2}}.test",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "u1.base:u1.test" in result.output and "mean ± std" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give split files"),
        (["--folds", "3", "--fold", "a", "b"], "give split files"),
        (["--fold", "nope.base", "nope.test"], "split file not found"),
        (["--folds-from", "u{1..2}.base:u{1..3}.test"], "pair up"),
        (["--folds", "3"], "needs the ratings"),
        (["--model", "no-such-model", "--fold", "a", "b"], "Invalid value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["evaluate-protocol", "--engine", "local", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_biased_als_has_its_own_defaults(split_dir: Path) -> None:
    from movierec.config import BIASED_ALS_DEFAULTS, ALSConfig

    pair = [str(split_dir / "u1.base"), str(split_dir / "u1.test")]
    out = _run(["--model", "biased-als", "--max-iter", "2", "--fold", *pair, "--json"])
    p = out["params"]
    assert p["rank"] == BIASED_ALS_DEFAULTS["rank"] != ALSConfig().rank
    assert p["reg_param"] == BIASED_ALS_DEFAULTS["reg_param"]
    assert p["max_iter"] == 2  # a flag wins over the model's default
    plain = _run(["--model", "als", "--max-iter", "2", "--fold", *pair, "--json"])["params"]
    assert (plain["rank"], plain["reg_param"]) == (ALSConfig().rank, ALSConfig().reg_param)
    # The pyspark.ml Estimator has the same defaults (no JVM needed to read Params).
    from movierec.ml import BiasedALS

    est = BiasedALS()
    assert (est.getRank(), est.getRegParam(), est.getMaxIter(), est.getBiasReg()) == (
        BIASED_ALS_DEFAULTS["rank"],
        BIASED_ALS_DEFAULTS["reg_param"],
        BIASED_ALS_DEFAULTS["max_iter"],
        ALSConfig().bias_reg,
    )


def _independent_ranking(
    folds: list[tuple[pd.DataFrame, pd.DataFrame]], k: int, threshold: float
) -> np.ndarray:
    """(precision, recall, ndcg)@k per fold: a plain implicit fit, numpy scores x_u·y_i over
    movies not rated in training (ties to the lower id), relevance = test rating >= threshold."""
    engine = LocalEngine()
    params = ALSParams(model="implicit-als", rank=6, reg_param=0.1, max_iter=5, seed=42)
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    out = []
    for train, test in folds:
        f = engine.fit(engine.data(train), params).factors()
        order = np.argsort(f.item_ids)
        items, y = f.item_ids[order], f.item_factors[order].astype(np.float64)
        rows = {int(u): i for i, u in enumerate(f.user_ids)}
        seen = train.groupby(USER)[ITEM].apply(set)
        relevant = test.loc[test[RATING] >= threshold].groupby(USER)[ITEM].apply(set)
        p, r, n = [], [], []
        for user, rel in relevant.items():
            hits = np.zeros(k)
            if user in rows:
                scores = y @ f.user_factors[rows[user]].astype(np.float64)
                scores[np.isin(items, list(seen.get(user, set())))] = -np.inf
                top = items[np.argsort(-scores, kind="stable")[:k]]
                hits = np.isin(top, list(rel)).astype(np.float64)
            p.append(hits.sum() / k)
            r.append(hits.sum() / len(rel))
            n.append((hits * gains).sum() / gains[: min(len(rel), k)].sum())
        out.append((np.mean(p), np.mean(r), np.mean(n)))
    return np.array(out)


def test_ranking_model_is_scored_by_top_k_metrics(ratings: pd.DataFrame, split_dir: Path) -> None:
    """Issue 17: evaluate-protocol accepts implicit-als and reports ranking metrics."""
    out = _run(
        ["--model", "implicit-als", *MODEL_ARGS, "--dir", str(split_dir), "--folds-from",
         f"u{{1..{FOLDS}}}.base:u{{1..{FOLDS}}}.test", "--k", "5", "--threshold", "4", "--json"]
    )  # fmt: skip
    assert out["k"] == 5 and out["threshold"] == 4.0 and "rmse_mean" not in out
    want = _independent_ranking(kfold(ratings, FOLDS, 42), 5, 4.0)
    got = np.array([(f["precision"], f["recall"], f["ndcg"]) for f in out["folds"]])
    np.testing.assert_allclose(got, want, atol=2e-3)
    assert got[:, 2].mean() > 0.1  # far above chance on ml-latest-small
    for i, key in enumerate(("precision", "recall", "ndcg")):
        assert out[f"{key}_mean"] == pytest.approx(got[:, i].mean(), rel=1e-12)
        assert out[f"{key}_std"] == pytest.approx(got[:, i].std(ddof=0), rel=1e-12)
    table = CliRunner().invoke(
        cli,
        ["evaluate-protocol", "--engine", "local", "--model", "implicit-als", *MODEL_ARGS,
         "--fold", str(split_dir / "u1.base"), str(split_dir / "u1.test")],
    )  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "NDCG@10" in table.output and "mean ± std" in table.output
