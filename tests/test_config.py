"""Config: defaults in one place, TOML mapping, flags override, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.config import RunConfig, build_config
from movierec.errors import ConfigError


def test_defaults_match_the_brief() -> None:
    cfg = RunConfig()
    assert cfg.tuning.ranks == [8, 10, 12]
    assert cfg.tuning.reg_params == [0.05, 0.1, 0.15]
    assert cfg.tuning.max_iters == [10, 15]
    assert cfg.tuning.folds == 3
    assert cfg.split.train_fractions == [0.6, 0.7, 0.75, 0.8]
    assert cfg.split.test_fraction == 0.2
    assert cfg.evaluation.threshold == 3.0
    assert cfg.evaluation.k == 10
    assert cfg.recommend.n == 10
    assert cfg.spark.master is None  # local[*], or spark-submit's master


def test_toml_then_overrides(tmp_path: Path) -> None:
    file = tmp_path / "movierec.toml"
    file.write_text(
        "seed = 7\n[als]\nrank = 20\nreg_param = 0.2\n[tuning]\nranks = [4, 6]\nfolds = 4\n"
        '[spark]\nconf = { "spark.executor.memory" = "2g" }\n'
    )
    cfg = build_config(file, {"als": {"rank": 12, "max_iter": None}, "seed": None})
    assert cfg.seed == 7
    assert cfg.als.rank == 12  # flag wins
    assert cfg.als.reg_param == 0.2  # file value kept
    assert cfg.als.max_iter == 15  # None flag does not erase the default
    assert cfg.tuning.ranks == [4, 6] and cfg.tuning.folds == 4
    assert cfg.spark.conf == {"spark.executor.memory": "2g"}


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        build_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[als\nrank = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_config(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[als]\nrnak = 3\n")
    with pytest.raises(ConfigError, match=r"als\.rnak"):
        build_config(unknown)
    with pytest.raises(ConfigError, match="train_fractions"):
        build_config(None, {"split": {"train_fractions": [0.6, 1.2]}})
    with pytest.raises(ConfigError, match="folds"):
        build_config(None, {"tuning": {"folds": 1}})


def test_a_table_is_a_source_of_its_own() -> None:
    from movierec.config import DataConfig

    assert DataConfig(table=" db.ratings ").table == "db.ratings"
    with pytest.raises(ValueError, match="one ratings source"):
        DataConfig(table="db.ratings", path="r.csv")
    with pytest.raises(ValueError, match="one ratings source"):
        DataConfig(table="db.ratings", dataset="ml-100k")
    with pytest.raises(ValueError, match="must name a table"):
        DataConfig(table="  ")
    with pytest.raises(ConfigError, match="one ratings source"):
        build_config(None, {"data": {"table": "t", "dataset": "ml-100k"}})
