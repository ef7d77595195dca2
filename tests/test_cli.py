"""The CLI end to end on real data: run, train -> evaluate -> recommend, and error exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cluster import conf_args
from conftest import reference_args
from movierec.cli import cli
from movierec.lists import read_table
from movierec.model_io import load_model_dir
from movierec.rankers import available

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REDUCED_GRID = [
    "--models", "als,biased-als",
    "--ranks", "8",
    "--reg-params", "0.1,0.15",
    "--max-iters", "5",
    "--folds", "2",
    "--train-fractions", "0.6,0.8",
    "--seed", "42",
    "--recommender", "rating-model",  # the ranking-based choice is tested on the local engine
]  # fmt: skip


def invoke(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def run_out(reference_run: Path) -> Path:
    """The session's reference Spark `run` (tests/conftest.py): dirty ml-latest-small,
    REFERENCE_GRID."""
    return reference_run


def test_run_writes_every_output(run_out: Path, dirty_ratings: Path) -> None:
    summary = json.loads((run_out / "summary.json").read_text())
    for key in (
        "data",
        "split_comparison",
        "tuning",
        "test",
        "baselines",
        "timings",
        "config",
        "versions",
    ):
        assert key in summary
    data = summary["data"]
    assert data["ratings"] == 100_836 and data["users"] == 610 and data["items"] == 9_724
    assert data["sparsity"] == pytest.approx(1 - 100_836 / (610 * 9_724))
    assert data["rejected"] == 3
    assert data["load"]["rejected"]["bad_movie_id"] == 1
    assert data["load"]["rejected"]["non_numeric_rating"] == 1
    assert data["load"]["rejected"]["rating_out_of_range"] == 1
    rejects = pd.read_csv(run_out / "rejects.csv")
    assert sorted(rejects["line"].tolist()) == [11, 12, 13]

    assert [r["train_fraction"] for r in summary["split_comparison"]] == [0.8]
    tuning = summary["tuning"]
    assert tuning["folds"] == 2 and len(tuning["results"]) == 1
    assert len(tuning["results"][0]["fold_rmse"]) == 2
    assert tuning["best"]["rmse_mean"] == pytest.approx(np.mean(tuning["results"][0]["fold_rmse"]))

    test = summary["test"]
    for key in ("rmse", "mae", "mse", "pairwise", "within_test_top_k", "catalogue_top_k"):
        assert key in test
    assert test["mse"] == pytest.approx(test["rmse"] ** 2)
    for key in ("precision", "recall", "f1"):
        assert 0.0 <= test["pairwise"][key] <= 1.0
    for key in ("precision", "recall", "f1", "ndcg", "map", "hit_rate"):
        assert 0.0 <= test["catalogue_top_k"][key] <= 1.0
    assert set(summary["baselines"]) == {"global_mean", "bias", "most_popular"}
    # The tuned model predicts better than both rating baselines on the same rows.
    assert (
        test["rmse"]
        < summary["baselines"]["bias"]["rmse"]
        < summary["baselines"]["global_mean"]["rmse"]
    )
    assert set(summary["timings"]) >= {
        "load",
        "eda",
        "split_comparison",
        "tuning",
        "evaluation",
        "total",
    }

    assert (run_out / "report.html").stat().st_size > 100_000  # plots embedded
    plots = sorted(p.name for p in (run_out / "plots").iterdir())
    assert plots == [
        "item_popularity.png",
        "rating_distribution.png",
        "split_comparison.png",
        "tuning_heatmap_biased-als_maxiter5.png",
        "user_activity.png",
    ]
    # Nothing else beside the output folder: the temporary folder was renamed away.
    assert [p.name for p in run_out.parent.iterdir()] == ["out"]


def test_recommendations_exclude_seen_and_have_titles(run_out: Path, ml_small: Path) -> None:
    # The Spark engine's executors write folders of part files; read_table takes either.
    recs = read_table(run_out / "recommendations.parquet")
    csv = read_table(run_out / "recommendations.csv")
    assert (run_out / "recommendations.parquet").is_dir()
    assert len(recs) == len(csv) == 610 * 10
    assert list(recs.columns) == ["user_id", "rank", "movie_id", "title", "genres", "score"]
    ranks = recs.groupby("user_id")["rank"].apply(list)
    assert all(r == list(range(1, 11)) for r in ranks)
    ratings = pd.read_csv(ml_small / "ratings.csv")
    seen = set(zip(ratings["userId"], ratings["movieId"]))
    assert not any((u, m) in seen for u, m in zip(recs["user_id"], recs["movie_id"]))
    movies = pd.read_csv(ml_small / "movies.csv").set_index("movieId")["title"]
    assert (recs["title"] == recs["movie_id"].map(movies)).all()
    saved = load_model_dir(run_out / "model")
    assert saved.meta["training_data"]["ratings"] == 100_836
    assert saved.movies is not None


def test_same_seed_same_metrics(dirty_ratings: Path, ml_small: Path, tmp_path: Path) -> None:
    """Two runs with one seed give identical results, to the last bit. On the local engine:
    the Spark engine's splits are the local ones row for row (tests/test_spark_split.py,
    test_local_engine_same_splits_and_close_metrics) and a cluster run repeats a local[2]
    run (tests/test_cluster.py)."""
    summaries, lists = [], []
    for name in ("first", "again"):
        out = tmp_path / name
        result = invoke(
            ["run", "--engine", "local", "--data", str(dirty_ratings), "--movies",
             str(ml_small / "movies.csv"), "--out", str(out), "--quiet", *REDUCED_GRID]
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summaries.append(json.loads((out / "summary.json").read_text()))
        lists.append(read_table(out / "recommendations.parquet"))
    first, second = summaries
    for key in ("holdout", "split_comparison", "tuning", "test", "baselines"):
        assert first[key] == second[key], key
    pd.testing.assert_frame_equal(lists[0], lists[1])


def test_train_evaluate_recommend(
    spark: Any, tmp_path: Path, ml_small: Path, run_out: Path
) -> None:
    from movierec.split import random_split

    ratings = pd.read_csv(ml_small / "ratings.csv")
    canon = ratings.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    train, test = random_split(canon, 0.2, seed=1)
    train_file, test_file = tmp_path / "train.csv", tmp_path / "test.tsv"
    train.to_csv(train_file, index=False)
    test.to_csv(test_file, index=False, header=False, sep="\t")  # another layout, auto-detected
    model = tmp_path / "model"

    result = invoke(
        ["train", "--data", str(train_file), "--movies", str(ml_small / "movies.csv"),
         "--out", str(model), "--rank", "8", "--max-iter", "5", "--model", "biased-als", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_model_dir(model).params.model == "biased-als"

    result = invoke(["evaluate", "--model", str(model), "--data", str(test_file), "--json", "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    summary_test = json.loads((run_out / "summary.json").read_text())["test"]
    expected = {"rmse", "mae", "mse", "n", "pairwise", "within_test_top_k", "catalogue_top_k",
                "beyond_accuracy", "coverage", "k", "threshold", "model", "params"}  # fmt: skip
    # The keys of summary.json's test, plus where every row of the test file went.
    assert set(metrics) == set(summary_test) | {"test_rows"} == expected | {"test_rows"}
    assert metrics["coverage"]["test_rows"] == len(test)
    account = metrics["test_rows"]
    assert account["read"] == len(test) == account["scored"] + sum(account["rejected"].values())
    assert account["scored"] == metrics["n"]
    assert 0.7 < metrics["rmse"] < 1.0

    result = invoke(
        ["recommend", "--model", str(model), "--user", "414", "--n", "5", "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    seen = set(train.loc[train["user_id"] == 414, "movie_id"])
    assert not seen & {r["movie_id"] for r in rows}
    assert all(r["title"] for r in rows)

    out_file = tmp_path / "all.csv"
    result = invoke(
        ["recommend", "--model", str(model), "--all", "--n", "3", "--out", str(out_file), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert out_file.is_dir()  # on Spark: part files written by the executors
    table = read_table(out_file)
    assert table["user_id"].nunique() == train["user_id"].nunique() and len(table) == 3 * 610

    result = invoke(["recommend", "--model", str(model), "--user", "999999", "-q"])
    assert result.exit_code == 2
    assert "unknown user id(s) not in the model: 999999" in result.output


def _movierec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("movierec")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_wrong_format_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
        + bytes(np.random.default_rng(0).integers(0, 255, 300, dtype=np.uint8))
    )
    proc = _movierec("run", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
    assert not (tmp_path / "o").exists()


def test_unknown_dataset_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _movierec("run", "--dataset", "ml-7m", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ml-7m" in lines[0] and "ml-100k" in lines[0]


def test_bad_flag_values_exit_2(tmp_path: Path) -> None:
    proc = _movierec("tune", "--data", "x.csv", "--ranks", "8,ten")
    assert proc.returncode == 2 and "comma-separated integers" in proc.stderr
    proc = _movierec("run", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "no input" in proc.stderr


def test_every_verb_has_help_with_an_example() -> None:
    verbs = ["eda", "compare-splits", "tune", "train", "evaluate", "recommend", "run", "report"]
    for verb in [[v] for v in verbs] + [["datasets", x] for x in ("list", "fetch", "synth")]:
        result = CliRunner().invoke(cli, [*verb, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output and "movierec" in result.output


def test_eda_and_compare_splits_verbs(spark: Any, tmp_path: Path, ml_small: Path) -> None:
    out = tmp_path / "eda"
    result = invoke(
        ["eda", "--data", str(ml_small / "ratings.csv"), "--out", str(out), "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)
    assert section["ratings"] == 100_836 and section["rejected"] == 0
    ratings = pd.read_csv(ml_small / "ratings.csv")
    top20 = ratings["userId"].value_counts().iloc[: int(np.ceil(0.2 * 610))].sum() / len(ratings)
    shares = {
        r["top_fraction"]: r["ratings_share"] for r in section["eda"]["user_activity"]["top_shares"]
    }
    assert shares[0.2] == pytest.approx(top20)
    assert json.loads((out / "eda.json").read_text()) == section
    assert {p.name for p in (out / "plots").iterdir()} == {
        "rating_distribution.png",
        "user_activity.png",
        "item_popularity.png",
    }

    result = invoke(
        ["compare-splits", "--data", str(ml_small / "ratings.csv"), "--train-fractions", "0.7,0.8",
         "--max-iter", "5", "--json", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["train_fraction"] for r in rows] == [0.7, 0.8]
    assert all(r["train_ratings"] + r["test_ratings"] == 100_836 for r in rows)
    assert all(0.8 < r["rmse"] < 1.1 for r in rows)


def test_runs_under_spark_submit(tmp_path: Path, ml_small: Path) -> None:
    """The package's entry point works as a spark-submit application (master from spark-submit)."""
    import movierec

    ratings = pd.read_csv(ml_small / "ratings.csv").iloc[:5000]
    data = tmp_path / "small.csv"
    ratings.to_csv(data, index=False)
    main = Path(movierec.__file__).with_name("__main__.py")
    submit = Path(sys.executable).with_name("spark-submit")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_")}
    env["PYSPARK_PYTHON"] = sys.executable
    proc = subprocess.run(
        [str(submit), "--master", "local[1]", *conf_args(), str(main), "train", "--data", str(data),
         "--out", str(tmp_path / "model"), "--max-iter", "3", "--rank", "4", "-q"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = load_model_dir(tmp_path / "model")
    assert saved.params.rank == 4 and saved.meta["training_data"]["ratings"] == 5000
    assert saved.meta["versions"]["spark_master"] == "local[1]"


def test_local_engine_same_splits_and_close_metrics(
    run_out: Path, dirty_ratings: Path, ml_small: Path, tmp_path: Path
) -> None:
    """`run --engine local` gives the same splits as the Spark run and metrics within noise."""
    out = tmp_path / "local"
    args = reference_args(dirty_ratings, ml_small / "movies.csv", out)
    result = invoke([*args, "--engine", "local"])
    assert result.exit_code == 0, result.output
    spark = json.loads((run_out / "summary.json").read_text())
    local = json.loads((out / "summary.json").read_text())
    assert local["config"]["engine"] == "local" and "numba" in local["versions"]
    assert local["holdout"]["dev_ratings"] == spark["holdout"]["dev_ratings"]
    assert local["test"]["coverage"] == spark["test"]["coverage"]
    for a, b in zip(local["split_comparison"], spark["split_comparison"]):
        assert (a["train_ratings"], a["test_ratings"]) == (b["train_ratings"], b["test_ratings"])
        assert a["rmse"] == pytest.approx(b["rmse"], abs=0.02)
    assert local["tuning"]["best"]["model"] == spark["tuning"]["best"]["model"]
    assert local["test"]["rmse"] == pytest.approx(spark["test"]["rmse"], abs=0.01)
    assert local["test"]["rmse"] < local["baselines"]["bias"]["rmse"]
    recs = pd.read_parquet(out / "recommendations.parquet")
    assert len(recs) == 6100

    # The locally trained model answers without a JVM, and loads in the Spark engine too.
    result = invoke(
        ["recommend", "--model", str(out / "model"), "--user", "42", "--n", "5", "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    local_rows = json.loads(result.stdout)
    args = ["recommend", "--engine", "spark", "--model", str(out / "model"), "--user", "42"]
    result = invoke([*args, "--n", "5", "--json", "-q"])
    assert result.exit_code == 0, result.output
    spark_rows = json.loads(result.stdout)
    assert [r["movie_id"] for r in spark_rows] == [r["movie_id"] for r in local_rows]
    assert [r["score"] for r in spark_rows] == pytest.approx(
        [r["score"] for r in local_rows], abs=1e-4
    )


def test_synth_then_explore_without_a_jvm(tmp_path: Path) -> None:
    data = tmp_path / "synth.parquet"
    result = invoke(["datasets", "synth", "--ratings", "5k", "--seed", "3", "--out", str(data)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(data)
    assert len(frame) == 5000 and not frame.duplicated(["user_id", "movie_id"]).any()
    result = invoke(
        [
            "eda",
            "--engine",
            "local",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "e"),
            "--json",
            "-q",
        ]
    )
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)
    assert section["ratings"] == 5000 and section["users"] == frame["user_id"].nunique()
    result = invoke(
        ["datasets", "synth", "--ratings", "lots", "--out", str(tmp_path / "x.parquet")]
    )
    assert result.exit_code == 2 and "not a count" in result.output


def test_recommender_is_chosen_by_ranking_quality(tmp_path: Path, ml_small: Path) -> None:
    """`run` measures the candidates' NDCG@10 on validation data and lists come from the best."""
    out = tmp_path / "auto"
    result = invoke(
        ["run", "--engine", "local", "--data", str(ml_small / "ratings.csv"), "--movies",
         str(ml_small / "movies.csv"), "--out", str(out), "-q", "--models", "biased-als",
         "--ranks", "10", "--reg-params", "0.15", "--max-iters", "10", "--folds", "2",
         "--train-fractions", "0.8"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    rec = summary["recommendations"]
    scores = rec["validation_ndcg"]
    # the tuned rating model (biased-als), the other explicit kind, implicit ALS, (ials,) EASE,
    # popularity
    kinds = {"rating-model", "als", "implicit-als", "ease", "most-popular"}
    assert set(scores) == kinds | ({"ials"} if available("ials") else set())
    assert rec["recommender"] == max(scores, key=scores.get)
    assert rec["candidates"]["als"]["model"] == "als"
    assert rec["params"]["model"] == rec["recommender"]
    # On this data the explicit models rank far worse than popularity; implicit ALS beats it
    # and EASE (the best of its λ values on the validation split) beats implicit ALS.
    assert max(scores["rating-model"], scores["als"]) < scores["most-popular"]
    assert scores["most-popular"] < scores["implicit-als"] < scores["ease"]
    assert rec["recommender"] in ("ease", "ials") and "NDCG@10" in rec["why"]
    # checked once on the test set beside most-popular, scored like the test section
    check = rec["test"]
    assert check["most_popular"] == summary["baselines"]["most_popular"]["catalogue_top_k"]
    ndcg, popular = check["catalogue_top_k"]["ndcg"], check["most_popular"]["ndcg"]
    assert check["ndcg_vs_most_popular"] == pytest.approx(ndcg / popular - 1.0)
    assert check["ndcg_vs_most_popular"] >= 0.5  # issue 8's target on ml-latest-small
    assert check["catalogue_top_k"]["users"] == check["most_popular"]["users"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"beats most-popular by {100 * check['ndcg_vs_most_popular']:.1f}%" in page
    # the summary says plainly which model does not beat popularity on a ranking metric
    rating_ndcg = summary["test"]["catalogue_top_k"]["ndcg"]
    assert summary["ranking_verdict"] == [
        f"the rating model (biased-als) does NOT beat most-popular on catalogue NDCG@10 on the "
        f"test set ({rating_ndcg:.4f} vs {popular:.4f})",
        f"the recommender ({rec['recommender']}) beats most-popular on catalogue NDCG@10 on "
        f"the test set ({ndcg:.4f} vs {popular:.4f})",
    ]
    recs = pd.read_parquet(out / "recommendations.parquet")
    ratings = pd.read_csv(ml_small / "ratings.csv")
    seen = set(zip(ratings["userId"], ratings["movieId"]))
    assert len(recs) == 6100 and not any(
        (u, m) in seen for u, m in zip(recs["user_id"], recs["movie_id"])
    )
