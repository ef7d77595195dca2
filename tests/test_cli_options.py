"""Options declared once (cli/_options.py) and the config they build (cli/_config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from movierec.cli import cli
from movierec.cli._app import MovierecGroup
from movierec.cli._config import REGISTRY
from movierec.cli._options import (
    als_options,
    common_options,
    data_options,
    eval_options,
    grid_options,
    make_config,
    split_options,
)
from movierec.cli._types import ModelKindChoice
from movierec.config import RunConfig
from movierec.engines.base import MODELS


def capture(args: list[str]) -> tuple[Any, RunConfig | None]:
    """Invoke a verb with every config option group; return (result, its RunConfig)."""
    seen: list[RunConfig] = []

    @click.group(cls=MovierecGroup)
    def top() -> None:
        pass

    @top.command()
    @data_options
    @common_options
    @als_options
    @grid_options
    @split_options
    @eval_options
    def verb(verbose: int, quiet: bool) -> None:
        seen.append(make_config())

    result = CliRunner().invoke(top, ["verb", *args])
    return result, seen[0] if seen else None


def test_every_setting_names_a_config_field() -> None:
    assert len(REGISTRY) >= 50
    for flag, path in REGISTRY.items():
        node: Any = RunConfig
        for part in path.split("."):
            assert isinstance(node, type) and issubclass(node, BaseModel), (flag, path)
            assert part in node.model_fields, (flag, path)
            node = node.model_fields[part].annotation
    assert REGISTRY["--rank"] == "als.rank" and REGISTRY["--clip"] == "als.clip_predictions"


def test_flags_set_their_config_paths_and_parse_their_text() -> None:
    result, cfg = capture(
        ["--rank", "12", "--model", "implicit-als", "--alpha", "3", "--ranks", "8,10",
         "--reg-params", "0.1, 0.2", "--models", "als,implicit-als", "--objective", "ndcg@5",
         "--conf", "spark.x=1", "--conf", "spark.y = 2", "--column", "user_id=uid",
         "--no-header", "--no-clip", "--rating-scale", "1,5", "--split", "time", "--k", "5",
         "--seed", "7", "--engine", "local"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert cfg is not None
    assert (cfg.als.rank, cfg.als.model, cfg.als.alpha) == (12, "implicit-als", 3.0)
    assert cfg.tuning.ranks == [8, 10] and cfg.tuning.reg_params == [0.1, 0.2]
    assert cfg.tuning.models == ["als", "implicit-als"] and cfg.tuning.objective == "ndcg@5"
    assert cfg.spark.conf == {"spark.x": "1", "spark.y": "2"}
    assert cfg.data.columns == {"user_id": "uid"} and cfg.data.header is False
    assert cfg.als.clip_predictions is False and cfg.als.rating_scale == (1.0, 5.0)
    assert (cfg.split.method, cfg.evaluation.k, cfg.seed, cfg.engine) == ("time", 5, 7, "local")


def test_unset_flags_keep_the_config_files_values(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('engine = "local"\n[als]\nrank = 7\nreg_param = 0.3\n[tuning]\nfolds = 4\n')
    result, cfg = capture(["--config", str(toml), "--reg-param", "0.5"])
    assert result.exit_code == 0, result.output
    assert cfg is not None
    assert (cfg.engine, cfg.als.rank, cfg.als.reg_param, cfg.tuning.folds) == ("local", 7, 0.5, 4)
    _, default = capture([])
    assert default == RunConfig()


def test_bad_values_are_one_line_errors() -> None:
    result, _ = capture(["--models", "als,nope"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: unknown model 'nope' in --models; choose from " + ", ".join(MODELS)
    )
    result, _ = capture(["--conf", "novalue"])
    assert result.exit_code == 2 and "--conf takes key=value" in result.stderr
    result, _ = capture(["--rank", "0"])
    assert result.exit_code == 2 and "als.rank" in result.stderr


def test_model_choices_come_from_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: every verb that takes a model kind offers every model the engines fit."""
    for verb in ("train", "tune", "run", "compare-splits", "evaluate-protocol"):
        (option,) = [p for p in cli.commands[verb].params if "--model" in getattr(p, "opts", ())]
        assert isinstance(option.type, ModelKindChoice), verb
        assert tuple(option.type.choices) == MODELS and "implicit-als" in MODELS
    import movierec.engines.base as base

    monkeypatch.setattr(base, "MODELS", (*MODELS, "kind-x"))
    # The CLI passes it on; config.ModelKind (extended with the engine) has the last word.
    result, _ = capture(["--models", "kind-x"])
    assert "unknown model" not in result.output and "tuning.models" in result.stderr
    result = CliRunner().invoke(cli, ["train", "--model", "kind-x", "--help"])
    assert result.exit_code == 0 and f"{MODELS[-1]}|kind-x]" in result.output


def test_choices_are_the_configs_literals() -> None:
    """Allowed values are written once, in config.py; the flags offer exactly those."""
    from typing import get_args

    from movierec.config import DataFormat, DuplicatePolicy, RecommendConfig

    params = {opt: p for p in cli.commands["run"].params for opt in getattr(p, "opts", ())}
    assert tuple(params["--format"].type.choices) == get_args(DataFormat)
    assert tuple(params["--duplicates"].type.choices) == get_args(DuplicatePolicy)
    recommender = get_args(RecommendConfig.model_fields["recommender"].annotation)
    assert tuple(params["--recommender"].type.choices) == recommender
    assert tuple(params["--engine"].type.choices) == ("spark", "local")


def test_table_sets_data_table_and_needs_the_spark_engine() -> None:
    result, cfg = capture(["--table", "db.ratings"])
    assert result.exit_code == 0, result.output
    assert cfg is not None and cfg.data.table == "db.ratings"
    result, cfg = capture(["--table", "db.ratings", "--engine", "local"])
    assert result.exit_code == 2 and "needs --engine spark" in result.output
    result, cfg = capture(["--table", "db.ratings", "--data", "r.csv"])
    assert result.exit_code == 2 and "one ratings source" in result.output
