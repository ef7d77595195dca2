"""The only place a SparkSession is built.

Everything else receives the session (or DataFrames) from :func:`get_spark`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from movierec.config import SparkConfig
from movierec.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

_lock = threading.Lock()
_session: SparkSession | None = None
_tmp_checkpoint: str | None = None
_guest = [False]
"""Whether ``_session`` is the caller's own session (never stopped or reconfigured here)."""
_pinned: list[Any] = []
"""Spark Connect checkpoints kept alive for the life of the session (see :func:`checkpoint`)."""


def _check_java() -> None:
    """Fail with a clear message before Spark's launcher does with a cryptic one.

    Spark's launcher runs ``$JAVA_HOME/bin/java`` when JAVA_HOME is set (even if that file
    does not exist), else ``java`` from PATH.

    Raises:
        EngineError: JAVA_HOME points to no Java, or no ``java`` is on PATH.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = os.path.join(java_home, "bin", "java")
        if os.path.isfile(java) and os.access(java, os.X_OK):
            return
        raise EngineError(
            f"JAVA_HOME={java_home} has no bin/java: point JAVA_HOME to a Java 17 installation "
            "(or unset it to use the java on PATH)"
        )
    if shutil.which("java") is None:
        raise EngineError(
            "Java was not found: Spark needs Java 17 (install openjdk-17-jre-headless, "
            "or set JAVA_HOME)"
        )


def _cleanup_checkpoint() -> None:
    global _tmp_checkpoint
    if _tmp_checkpoint is not None:
        shutil.rmtree(_tmp_checkpoint, ignore_errors=True)
        _tmp_checkpoint = None


def _python_workers_here(master: str, cfg: SparkConfig) -> bool:
    """True when executors run on this machine and nobody chose their Python yet."""
    if "PYSPARK_PYTHON" in os.environ or "spark.pyspark.python" in cfg.conf:
        return False
    if master.startswith("local"):
        return True
    host = urlsplit(master).hostname if "://" in master else None
    return host in {"127.0.0.1", "localhost", socket.gethostname()}


def get_spark(cfg: SparkConfig | None = None) -> SparkSession:
    """Return the process-wide SparkSession, building it from ``cfg`` on first use.

    Local mode is sized for one machine (few shuffle partitions, UI off unless asked,
    driver memory from the config); a checkpoint directory is always set so that long ALS
    runs truncate their lineage instead of overflowing the JVM stack. ``cfg.remote`` builds
    a Spark Connect session instead; ``cfg.master`` accepts any master URL. When the
    process already has an active SparkSession movierec did not build (a notebook's), that
    session is used as it is, ``cfg`` ignored (:func:`adopt_session`).

    Raises:
        EngineError: Java is missing or the session could not start.
    """
    global _session, _tmp_checkpoint
    cfg = cfg or SparkConfig()
    with _lock:
        if _session is not None:
            return _session
        from pyspark.sql import SparkSession

        active = None if cfg.remote else SparkSession.getActiveSession()
        if active is not None:
            # A notebook's own session (Databricks, Jupyter): a guest uses it as it is.
            adopt_session(active)
            _session, _guest[0] = active, True
            log.info("using the running SparkSession as it is (its settings are kept)")
            return active
        builder = SparkSession.builder.appName(cfg.app_name)
        if cfg.remote:
            builder = builder.remote(cfg.remote)
        else:
            # Under spark-submit the JVM is already up with its own master and memory settings.
            submitted = "PYSPARK_GATEWAY_PORT" in os.environ
            if not submitted:
                _check_java()
            master = cfg.master or (None if submitted else "local[*]")
            if master is not None:
                if master.startswith("local"):
                    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
                builder = builder.master(master)
            if not submitted:
                builder = builder.config("spark.driver.memory", cfg.driver_memory)
            if master is not None and _python_workers_here(master, cfg):
                # The top-N runs numpy in Python workers: on this machine they should be this
                # interpreter (with numpy/pandas/pyarrow), not whatever python3 is on PATH.
                os.environ["PYSPARK_PYTHON"] = sys.executable
            builder = builder.config("spark.ui.enabled", str(cfg.ui).lower())
            builder = builder.config("spark.ui.showConsoleProgress", "false")
            # ALS builds deep lineages: a larger thread stack is a second guard beside
            # checkpoints. The log4j2 file keeps Spark's own console output to errors.
            log4j = Path(__file__).with_name("log4j2.properties")
            java_opts = f"-Xss16m -Dlog4j2.configurationFile={log4j.as_uri()}"
            builder = builder.config("spark.driver.extraJavaOptions", java_opts)
        builder = builder.config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        for key, value in cfg.conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # the JVM failing to start surfaces as many types
            where = cfg.remote or cfg.master or "local[*]"
            raise EngineError(f"Spark could not start ({where}): {exc}") from exc
        if cfg.remote:
            # Spark Connect: the client has no SparkContext, so the checkpoint directory (and
            # every other JVM-side setting) is the server's (spark.checkpoint.dir there).
            if cfg.checkpoint_dir is not None:
                log.warning(
                    "Spark Connect: [spark] checkpoint_dir=%s is not applied; set "
                    "spark.checkpoint.dir on the Connect server instead",
                    cfg.checkpoint_dir,
                )
        else:
            sc = session.sparkContext
            sc.setLogLevel(cfg.log_level)
            checkpoint = cfg.checkpoint_dir
            if checkpoint is None and (sc.master or "").startswith("local"):
                _tmp_checkpoint = tempfile.mkdtemp(prefix="movierec-checkpoint-")
                atexit.register(_cleanup_checkpoint)
                checkpoint = _tmp_checkpoint
            if checkpoint is not None:
                sc.setCheckpointDir(checkpoint)
            else:
                log.warning(
                    "no checkpoint directory on %s: set [spark] checkpoint_dir to a folder every "
                    "executor can reach (HDFS, S3, a shared mount) for long ALS fits",
                    sc.master,
                )
        log.info("Spark session started: %s", cfg.remote or session.conf.get("spark.master", "?"))
        _session = session
        return session


def is_connect(spark: Any) -> bool:
    """True when ``spark`` is a Spark Connect client session (no SparkContext, no py4j)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def checkpoint(df: Any, *, eager: bool, reliable: bool) -> Any:
    """``df`` checkpointed (``reliable``: to the checkpoint directory, else in executor
    storage), its lineage cut so later plans stay shallow.

    On Spark Connect the checkpoint is a server-side relation that pyspark releases from the
    finaliser of a client object; when the garbage collector runs that finaliser inside
    another gRPC call of the same thread the client deadlocks (apache/spark PRs 53783,
    54211, 58085 describe the hazard). So a Connect checkpoint is pinned here until the
    session movierec built is stopped (:func:`stop_spark`), when the server drops them all;
    in a guest session they live as long as the process. At exit their finalisers are
    disarmed (:func:`_disarm_pins`): a gRPC call from a finaliser while the interpreter
    shuts down never returns.
    """
    out = df.checkpoint(eager=eager) if reliable else df.localCheckpoint(eager=eager)
    if is_connect(df.sparkSession):
        with _lock:
            if not _pinned:
                atexit.register(_disarm_pins)
            _pinned.append(out)
    return out


def _disarm_pins() -> None:
    """Run at exit: the pinned Connect checkpoints forget their session, so that their
    finalisers skip the release call (the server drops them when the session ends)."""
    with _lock:
        for df in _pinned:
            plan = getattr(df, "_plan", None)
            if plan is not None and hasattr(plan, "_spark_session"):
                plan._spark_session = None
        _pinned.clear()


def ensure_active(spark: Any) -> None:
    """Make ``spark`` the active session of the calling thread (Spark Connect only).

    Spark Connect keeps the active session per thread, and its ML calls (``model.rank``,
    ``userFactors``, ``write()``) look only there, so from a worker thread (parallel tuning)
    they fail with a bare ``AssertionError``. Classic sessions need nothing.
    """
    if not is_connect(spark):
        return
    cls = type(spark)
    if cls.getActiveSession() is not spark:
        # The thread-local slot pyspark's builder fills only on the thread that created it.
        cls._active_session.session = spark


def stop_spark() -> None:
    """Stop the process-wide session (if any; a session movierec did not build is only
    forgotten, not stopped) and remove its temporary checkpoint folder."""
    global _session
    with _lock:
        if _session is not None and not _guest[0]:
            _session.stop()
        if not _guest[0]:
            _pinned.clear()  # released with the closed session; their finalisers do nothing
        _session = None
        _guest[0] = False
        _cleanup_checkpoint()


_adopted: set[int] = set()

WORKER_MODULES = ("numpy", "pandas", "pyarrow")
"""What movierec's Python-worker steps (the distributed top-N) import on the executors."""


def _probe(_: object) -> list[str]:
    """Run on an executor: the modules of :data:`WORKER_MODULES` it cannot import."""
    import importlib
    import sys as worker_sys

    missing = []
    for name in ("numpy", "pandas", "pyarrow"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return [*missing, f"@{worker_sys.executable}"]


def check_python_workers(spark: SparkSession) -> None:
    """Fail early, in one line, when the executors' Python cannot import numpy, pandas and
    pyarrow (the top-N runs ``applyInPandas`` there). One tiny job; skipped for Spark
    Connect (no RDDs on the client).

    Raises:
        EngineError: a worker lacks a module, or no Python worker could start.
    """
    if is_connect(spark):
        return
    try:
        got = spark.sparkContext.parallelize([0], 1).map(_probe).collect()[0]
    except Exception as exc:  # a worker that cannot start fails the job with many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EngineError(
            "Spark could not start a Python worker "
            f"({first[:160]}); set PYSPARK_PYTHON (or spark.pyspark.python) to a Python "
            "with numpy, pandas and pyarrow"
        ) from exc
    missing = [m for m in got if not m.startswith("@")]
    where = next((m[1:] for m in got if m.startswith("@")), "?")
    if missing:
        raise EngineError(
            f"Spark's Python workers ({where}) cannot import {', '.join(missing)}: set "
            "PYSPARK_PYTHON (or spark.pyspark.python) to a Python that has numpy, pandas "
            "and pyarrow"
        )


def adopt_session(spark: SparkSession) -> None:
    """Use the caller's own ``spark`` as a guest: nothing of its configuration is changed.

    Once per session: checks its Python workers (:func:`check_python_workers`) and logs one
    warning for each setting movierec would have chosen and does not impose: no checkpoint
    directory (long ALS fits keep their whole lineage), Arrow transfers off (pandas ↔ Spark
    conversions are slower).

    Raises:
        EngineError: the workers lack numpy, pandas or pyarrow.
    """
    if id(spark) in _adopted:
        return
    check_python_workers(spark)
    if not is_connect(spark) and spark.sparkContext.getCheckpointDir() is None:
        log.warning(
            "your SparkSession has no checkpoint directory and movierec does not set one "
            "in a session it does not own: long ALS fits keep their whole lineage "
            "(call spark.sparkContext.setCheckpointDir(...) to truncate it)"
        )
    arrow = spark.conf.get("spark.sql.execution.arrow.pyspark.enabled", "false")
    if str(arrow).lower() != "true":
        log.warning(
            "spark.sql.execution.arrow.pyspark.enabled is off in your SparkSession and "
            "movierec leaves it so: pandas <-> Spark transfers will be slower"
        )
    _adopted.add(id(spark))
