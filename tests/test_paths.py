"""paths: local paths vs Hadoop URIs, with no Spark or Hadoop code behind them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from movierec.errors import ConfigError
from movierec.paths import is_remote, path_or_uri, remote_or_none, to_local


def test_uris_stay_strings_and_local_paths_become_paths() -> None:
    assert path_or_uri("hdfs://nn:8020/lake/r.csv") == "hdfs://nn:8020/lake/r.csv"
    assert path_or_uri("s3a://bucket/x") == "s3a://bucket/x"
    assert path_or_uri("file:///tmp/a%20b") == Path("/tmp/a b")
    assert path_or_uri("~/x") == Path.home() / "x"
    assert path_or_uri(None) is None and path_or_uri(Path("hdfs:/x")) == Path("hdfs:/x")
    assert is_remote("hdfs:/user/me") and not is_remote("C:/data/r.csv")
    assert remote_or_none("s3a://b/x") == "s3a://b/x" and remote_or_none(Path("/x")) is None
    with pytest.raises(ConfigError, match="not a local path"):
        to_local("hdfs://nn/x")
    with pytest.raises(ConfigError, match="name no host"):
        to_local("file://otherhost/x")


def test_config_does_not_import_the_hadoop_module_or_spark() -> None:
    code = (
        "import sys, movierec.config\n"
        "print([m for m in ('movierec.hadoopfs', 'movierec.spark', 'pyspark') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
