"""`--mlflow`: a run's parameters, metrics, plots, report and model read back from MLflow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from movierec.cli import cli
from movierec.errors import ConfigError
from movierec.tracking import Tracker, numbers_of, params_of, run_metrics

GRID = [
    "--models", "biased-als", "--ranks", "6", "--reg-params", "0.1,0.2", "--max-iters", "3",
    "--folds", "2", "--train-fractions", "0.8", "--recommender", "rating-model", "--seed", "7",
]  # fmt: skip


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, ml_small: Path) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    pd.read_csv(ml_small / "ratings.csv").iloc[:20_000].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def tracked(
    tmp_path_factory: pytest.TempPathFactory, small: Path, ml_small: Path
) -> dict[str, Any]:
    """One `run --engine local --mlflow sqlite:///...` and the run read back with the client."""
    from mlflow.tracking import MlflowClient

    base = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{base / 'store' / 'mlflow.db'}"
    (base / "store").mkdir()
    out = base / "out"
    result = invoke(
        ["run", "--engine", "local", "--data", str(small), "--movies", str(ml_small / "movies.csv"),
         "--out", str(out), "--mlflow", uri, "--mlflow-experiment", "tests", *GRID]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tests")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    assert f"MLflow run {runs[0].info.run_id} logged to {uri}" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    return {
        "client": client,
        "run": runs[0],
        "out": out,
        "summary": summary,
        "base": base,
        "uri": uri,
    }


def test_run_logs_params_and_metrics(tracked: dict[str, Any]) -> None:
    run, summary = tracked["run"], tracked["summary"]
    assert run.info.status == "FINISHED" and run.info.run_name == "out"
    params = run.data.params
    config = summary["config"]
    assert params["als.rank"] == str(config["als"]["rank"])
    assert params["engine"] == "local" and params["seed"] == "7"
    assert json.loads(params["tuning.reg_params"]) == [0.1, 0.2]
    assert params["data.path"] == config["data"]["path"]
    best = summary["holdout"]["best_params"]
    assert params["best_params.reg_param"] == str(best["reg_param"])
    metrics = run.data.metrics
    assert metrics["test.rmse"] == pytest.approx(summary["test"]["rmse"])
    assert metrics["test.catalogue_top_k.ndcg"] == pytest.approx(
        summary["test"]["catalogue_top_k"]["ndcg"]
    )
    for name in ("global_mean", "bias"):
        assert metrics[f"baselines.{name}.rmse"] == pytest.approx(
            summary["baselines"][name]["rmse"]
        )
    assert metrics["cv_best.rmse_mean"] == pytest.approx(summary["tuning"]["best"]["rmse_mean"])
    assert metrics["cv_best.rmse_mean"] == pytest.approx(
        min(r["rmse_mean"] for r in summary["tuning"]["results"])
    )
    assert metrics["timings.total"] == pytest.approx(summary["timings"]["total"])
    assert run.data.tags["movierec.verb"] == "run"
    assert run.data.tags["version.movierec"] == summary["versions"]["movierec"]


def test_run_logs_plots_report_and_model(tracked: dict[str, Any], tmp_path: Path) -> None:
    client, run, out = tracked["client"], tracked["run"], tracked["out"]
    run_id = run.info.run_id
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"summary.json", "report.html", "plots", "model"} <= top
    plots = {Path(a.path).name for a in client.list_artifacts(run_id, "plots")}
    assert plots == {p.name for p in (out / "plots").glob("*.png")} and len(plots) >= 4
    model = {Path(a.path).name for a in client.list_artifacts(run_id, "model")}
    assert {"model.json", "factors.npz", "train_ratings.parquet", "engine"} <= model
    got = Path(client.download_artifacts(run_id, "summary.json", str(tmp_path)))
    assert got.read_bytes() == (out / "summary.json").read_bytes()
    report = Path(client.download_artifacts(run_id, "report.html", str(tmp_path)))
    assert report.read_bytes() == (out / "report.html").read_bytes()
    # Artifacts of a local SQLite store live beside the database.
    assert (tracked["base"] / "store" / "mlartifacts").is_dir()


def test_file_store_uri(
    tracked: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain-folder store: refused by MLflow unless opted in, then it works the same."""
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(ConfigError, match="MLFLOW_ALLOW_FILE_STORE=true"):
        Tracker(uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run_id = Tracker(uri, "files").log_pipeline_run(tracked["out"], tracked["summary"])
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.metrics["test.rmse"] == pytest.approx(tracked["summary"]["test"]["rmse"])
    assert run.data.params == tracked["run"].data.params
    assert (tmp_path / "mlruns").is_dir()


def test_train_logs_the_model(tracked: dict[str, Any], small: Path, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = tracked["uri"]  # the same store (creating a SQLite store takes seconds)
    out = tmp_path / "model"
    result = invoke(
        ["train", "--engine", "local", "--data", str(small), "--out", str(out), "--rank", "5",
         "--max-iter", "3", "--mlflow", uri, "--json", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(info["mlflow_run_id"])
    assert run.data.params["als.rank"] == "5" and run.data.params["model_params.rank"] == "5"
    assert run.data.metrics["train.training_fit.rmse"] == pytest.approx(
        info["training_fit"]["rmse"]
    )
    names = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model.json" in names and "factors.npz" in names


def test_without_mlflow_installed_is_one_line(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` fail
    out = tmp_path / "out"
    result = invoke(
        ["run", "--engine", "local", "--data", str(small), "--out", str(out), "--mlflow",
         f"sqlite:///{tmp_path / 'm.db'}", "-q"]
    )  # fmt: skip
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: --mlflow needs MLflow, which is not installed: "
                     "pip install 'movierec[mlflow]'"]  # fmt: skip
    assert not out.exists()  # checked before any work


def test_flattening_helpers() -> None:
    config = {"als": {"rank": 10, "reg": 0.1}, "tuning": {"ranks": [8, 12]}, "x": None, "s": "a"}
    assert params_of(config) == {
        "als.rank": "10",
        "als.reg": "0.1",
        "tuning.ranks": "[8, 12]",
        "x": "null",
        "s": "a",
    }
    assert numbers_of({"a": {"b": 1, "ok": True, "nan": float("nan"), "t": "x"}}, "p") == {
        "p.a.b": 1.0
    }
    summary = {
        "test": {"rmse": 0.9, "top@k": {"ndcg": 0.1}},
        "baselines": {"bias": {"rmse": 1.0}},
        "tuning": {"best": {"rmse_mean": 0.95, "model": "als"}},
        "timings": {"total": 3.5},
    }
    assert run_metrics(summary) == {
        "test.rmse": 0.9,
        "test.top_k.ndcg": 0.1,  # characters MLflow refuses become "_"
        "baselines.bias.rmse": 1.0,
        "cv_best.rmse_mean": 0.95,
        "timings.total": 3.5,
    }


def test_a_failing_tracking_server_never_costs_the_output(
    tracked: dict[str, Any], small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movierec import tracking

    def down(*a: Any, **k: Any) -> str:
        raise ConnectionError("tracking server unreachable (simulated)")

    monkeypatch.setattr(tracking.Tracker, "log_model_dir", down)
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli,
        ["train", "--engine", "local", "--data", str(small), "--out", str(out), "--rank", "3",
         "--max-iter", "2", "--mlflow", tracked["uri"], "-q"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"the output was written to {out}, but MLflow logging failed" in result.output
    assert "tracking server unreachable" in result.output
    assert (out / "model.json").is_file()  # published all the same
