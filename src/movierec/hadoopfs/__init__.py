"""Inputs and outputs on any Hadoop-compatible filesystem (HDFS, S3A, ABFS, GCS, ViewFs …).

A path with a URI scheme other than ``file`` (``hdfs://nn:8020/lake/ratings.csv``,
``s3a://bucket/runs/2026-11``) is reached through the Hadoop ``FileSystem`` API of the
running Spark driver, so every filesystem the cluster is configured for works, with the
cluster's own credentials and connectors. movierec itself reads and writes local folders:

* **inputs** (``--data``, ``--movies``, ``--model``) are copied into a private local
  staging folder first and read from there, so validation still names the line and column
  (the messages name the original URI) and the rejects file is complete;
* **outputs** (``--out``) are built in a local staging folder exactly as a local output
  would be, then uploaded to a hidden temporary folder next to the target
  (``.NAME.tmp-HEX-PID-HOST``) and renamed into place. The target appears whole or not at
  all; an earlier movierec output there is replaced, anything else is refused before any
  work. A run killed during the upload leaves only the hidden folder, which the next
  output to the same target removes (same host, process gone). The local staging folders
  (``movierec-in-PID-HOST-*``, ``movierec-out-PID-HOST-*`` in the temp folder) are named
  the same way, and those of killed runs are removed when the next one is made. On HDFS the
  final rename is atomic; on object stores (S3A) a rename is a copy, so readers should wait
  for it.

The parts of a Spark model that executors write (``engine/als``, the bias tables) go
straight to the remote temporary folder (:func:`spark_uri`), so a model saved from a
multi-node cluster is complete without a shared local filesystem.

``file://`` URIs and plain paths are local and bypass all of this. Spark Connect sessions
have no client-side access to the driver's Hadoop filesystem; URIs there are refused with
a clear error.

The modules: ``fs`` (:class:`HadoopFS`, :func:`session`, URI helpers), ``redirects``
(:func:`spark_uri`), ``temps`` (temporary names, :func:`remove_stale_remote_temps`),
``outputs`` (:func:`remote_output`, :func:`output_path`, :func:`atomic_output`,
:func:`check_output`), ``inputs`` (:func:`staged_input`, :func:`staged_model`,
:func:`remote_name`, :func:`relocate_error`). The package root re-exports them all.
"""

from __future__ import annotations

from movierec.hadoopfs.fs import HadoopFS, session
from movierec.hadoopfs.inputs import relocate_error, remote_name, staged_input, staged_model
from movierec.hadoopfs.outputs import atomic_output, check_output, output_path, remote_output
from movierec.hadoopfs.redirects import _redirect as _redirect  # tests stage with it
from movierec.hadoopfs.redirects import spark_uri
from movierec.hadoopfs.temps import remove_stale_remote_temps
from movierec.paths import is_remote, to_local
from movierec.paths import path_or_uri as path_or_uri  # re-exported for compatibility

__all__ = [
    "HadoopFS",
    "atomic_output",
    "check_output",
    "is_remote",
    "output_path",
    "path_or_uri",
    "relocate_error",
    "remote_name",
    "remote_output",
    "remove_stale_remote_temps",
    "session",
    "spark_uri",
    "staged_input",
    "staged_model",
    "to_local",
]
