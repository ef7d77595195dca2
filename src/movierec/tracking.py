"""Experiment tracking with MLflow (the optional extra ``movierec[mlflow]``).

:class:`Tracker` connects to a tracking URI once, before the long work starts, so a wrong
URI or a missing package fails at once; after the work it logs one MLflow run:

* **parameters**: the run's configuration flattened to dotted keys (``als.rank``,
  ``tuning.ranks``; lists as JSON text), and the tuned parameters of the final model
  (``best_params.rank``);
* **metrics**: every number of the held-out test metrics (``test.rmse``,
  ``test.catalogue_top_k.ndcg``), of the baselines (``baselines.bias.rmse``), of the best
  cross-validated configuration (``cv_best.rmse_mean``) and the stage timings in seconds
  (``timings.total``);
* **artifacts**: ``summary.json``, ``report.html``, ``plots/*.png``, ``rejects.csv`` when
  rows were rejected, and the model folder under ``model/``.

MLflow is imported only here and only when tracking is asked for. Recent MLflow (3.17 was
checked) refuses the plain-folder store (``file:./mlruns``) unless
``MLFLOW_ALLOW_FILE_STORE=true`` is set; ``sqlite:///PATH/mlflow.db`` works out of the box
(artifacts then go to ``PATH/mlartifacts`` for experiments this module creates). SQLite
needs SQLAlchemy and alembic, which the extra installs beside ``mlflow-skinny``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from movierec.errors import ConfigError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'movierec[mlflow]'"
DEFAULT_EXPERIMENT = "movierec"
MAX_PARAM_LENGTH = 6000
"""MLflow's limit on a parameter value (characters); longer values are cut with '...'."""
_BAD_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. /]")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError(f"--mlflow needs MLflow, which is not installed: {INSTALL_HINT}") from exc
    return mlflow


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) pairs of nested dicts; lists are leaves."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, obj


def _key(name: str) -> str:
    return _BAD_KEY_CHARS.sub("_", name)[:250]


def params_of(config: dict[str, Any]) -> dict[str, str]:
    """The configuration as MLflow parameters: dotted keys, text values (None -> "None")."""
    out = {}
    for key, value in flatten(config):
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > MAX_PARAM_LENGTH:
            text = text[: MAX_PARAM_LENGTH - 3] + "..."
        out[_key(key)] = text
    return out


def numbers_of(obj: Any, prefix: str) -> dict[str, float]:
    """Every finite int/float leaf of ``obj`` as ``prefix.dotted.key`` -> float (bools skipped)."""
    out = {}
    for key, value in flatten(obj, prefix):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[_key(key)] = float(value)
    return out


def run_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The metrics logged for a ``movierec run`` summary (module docstring)."""
    metrics: dict[str, float] = {}
    metrics.update(numbers_of(summary.get("test", {}), "test"))
    metrics.update(numbers_of(summary.get("baselines", {}), "baselines"))
    best = (summary.get("tuning") or {}).get("best") or {}
    metrics.update(numbers_of(best, "cv_best"))
    metrics.update(numbers_of(summary.get("timings", {}), "timings"))
    return metrics


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _quiet_mlflow_logs() -> None:
    """MLflow and alembic log at info on their own handlers; follow our log level instead."""
    ours = logging.getLogger("movierec").getEffectiveLevel()
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(max(ours, logging.WARNING))


class Tracker:
    """One MLflow tracking URI and experiment, checked when constructed.

    Raises:
        ConfigError: MLflow is not installed, or the URI or experiment cannot be used.
    """

    def __init__(self, uri: str, experiment: str = DEFAULT_EXPERIMENT) -> None:
        mlflow = _import_mlflow()
        _quiet_mlflow_logs()
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.experiment = experiment
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                self.experiment_id = self.client.create_experiment(
                    experiment, artifact_location=_artifact_location(uri)
                )
            else:
                self.experiment_id = found.experiment_id
        except mlflow.exceptions.MlflowException as exc:
            raise ConfigError(_mlflow_message(uri, exc)) from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"MLflow cannot use {uri}: {exc}") from exc

    def log_run(
        self,
        params: dict[str, str],
        metrics: dict[str, float],
        files: list[Path],
        folders: dict[str, Path],
        *,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Log one finished run; return its MLflow run id.

        ``files`` go to the artifact root, each folder of ``folders`` under its key.
        On failure the MLflow run is marked FAILED and the error re-raised as ConfigError.
        """
        from mlflow.entities import Metric, Param

        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags or {})
        run_id: str = run.info.run_id
        try:
            stamp = int(time.time() * 1000)
            plist = [Param(k, v) for k, v in params.items()]
            mlist = [Metric(k, v, stamp, 0) for k, v in metrics.items()]
            for chunk in _chunks(plist, 100):
                self.client.log_batch(run_id, params=chunk)
            for mchunk in _chunks(mlist, 1000):
                self.client.log_batch(run_id, metrics=mchunk)
            for file in files:
                if file.is_file():
                    self.client.log_artifact(run_id, str(file))
            for name, folder in folders.items():
                if folder.is_dir():
                    self.client.log_artifacts(run_id, str(folder), artifact_path=name)
        except Exception as exc:
            self.client.set_terminated(run_id, "FAILED")
            raise ConfigError(f"MLflow logging to {self.uri} failed: {exc}") from exc
        self.client.set_terminated(run_id, "FINISHED")
        log.info("MLflow run %s logged to %s (experiment %s)", run_id, self.uri, self.experiment)
        return run_id

    def log_pipeline_run(
        self, out: Path, summary: dict[str, Any], output: str | None = None
    ) -> str:
        """Log a finished ``movierec run`` output folder ``out`` with its ``summary``.

        ``output`` is where the folder is published when that is not ``out`` itself (a
        Hadoop URI whose local staging ``out`` is); it names the run and its output tag."""
        out = Path(out)
        params = params_of(summary.get("config", {}))
        best = (summary.get("holdout") or {}).get("best_params")
        if best:
            params.update(params_of({"best_params": best}))
        return self.log_run(
            params,
            run_metrics(summary),
            [out / "summary.json", out / "report.html", out / "rejects.csv"],
            {"plots": out / "plots", "model": out / "model"},
            run_name=_name(out, output),
            tags=_tags("run", output or out, summary.get("versions", {})),
        )

    def log_model_dir(
        self, model_dir: Path, meta: dict[str, Any], output: str | None = None
    ) -> str:
        """Log a ``movierec train`` model folder: its config, metrics and the folder itself
        (``output``: where it is published when that is not ``model_dir``, see above)."""
        model_dir = Path(model_dir)
        params = params_of(meta.get("config", {}))
        params.update(params_of({"model_params": meta.get("params", {})}))
        return self.log_run(
            params,
            numbers_of(meta.get("metrics", {}), "train"),
            [],
            {"model": model_dir},
            run_name=_name(model_dir, output),
            tags=_tags("train", output or model_dir, meta.get("versions", {})),
        )


def _name(local: Path, output: str | None) -> str:
    return output.rstrip("/").rsplit("/", 1)[-1] if output else Path(local).resolve().name


def _tags(verb: str, out: Path | str, versions: dict[str, Any]) -> dict[str, str]:
    where = out if isinstance(out, str) else str(Path(out).resolve())
    tags = {"movierec.verb": verb, "movierec.output": where}
    for key, value in versions.items():
        tags[_key(f"version.{key}")] = str(value)
    return tags


def _artifact_location(uri: str) -> str | None:
    """For a local SQLite store, artifacts beside the database (else MLflow's default)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and ":memory:" not in uri:
        db = Path(uri[len(prefix) :])
        return (db.resolve().parent / "mlartifacts").as_uri()
    return None


def _mlflow_message(uri: str, exc: Exception) -> str:
    text = str(exc)
    if "MLFLOW_ALLOW_FILE_STORE" in text:
        return (
            f"MLflow refuses the folder store {uri} (it is in maintenance mode): use "
            "--mlflow sqlite:///PATH/mlflow.db, or set MLFLOW_ALLOW_FILE_STORE=true"
        )
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    return f"MLflow cannot use {uri}: {first[:300]}"
