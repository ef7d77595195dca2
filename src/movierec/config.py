"""Typed, validated configuration; every default lives here and only here.

A TOML file (``--config FILE``) maps onto :class:`RunConfig` section by section
(``[data]``, ``[spark]``, ``[als]``, ``[split]``, ``[tuning]``, ``[evaluation]``,
``[recommend]``, ``[interactions]``); CLI flags override values from the file.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from movierec.errors import ConfigError
from movierec.paths import path_or_uri

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

DEFAULT_SEED = 42

DataFormat = Literal["auto", "ml-100k", "ml-dat", "ml-csv", "delimited", "parquet"]
DuplicatePolicy = Literal["latest", "first", "last", "mean", "error"]
ModelKind = Literal["als", "biased-als", "implicit-als", "ials", "ease"]
ImplicitSolver = Literal["cg", "cholesky"]
PathOrURI = Annotated[Path | str, BeforeValidator(path_or_uri)]
"""A local path, or a Hadoop URI (``hdfs://``, ``s3a://`` …) kept as a string; see hadoopfs."""


def _all_models() -> list[ModelKind]:
    return ["als", "biased-als"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the ratings come from and how to read and validate them."""

    path: PathOrURI | None = None
    """Ratings file or directory (a MovieLens release folder, a delimited file, or Parquet);
    local, or on any Hadoop-compatible filesystem (``hdfs://``, ``s3a://``; read through Spark)."""
    dataset: str | None = None
    """Name of a GroupLens release (``movierec datasets list``); used when ``path`` is not set."""
    table: str | None = None
    """A Spark SQL table (``db.ratings``, whatever the session's catalog holds), read with
    ``spark.table``; Spark engine only, and not together with ``path`` or ``dataset``."""
    movies: PathOrURI | None = None
    """Optional movies file with titles and genres (found inside a MovieLens folder)."""
    format: DataFormat = "auto"
    """File layout; ``auto`` detects MovieLens layouts and the delimiter of plain files."""
    sep: str | None = None
    """Separator of delimited text (``\\t``, ``,``, ``::``, ``whitespace``); None = detect."""
    header: bool | None = None
    """Whether delimited text has a header row; None = detect."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Map from canonical name (user_id, movie_id, rating, timestamp) to the source column name."""
    rating_min: float | None = None
    """Lowest valid rating; None = the layout's scale (0.5, or 1 for ml-100k/ml-1m)."""
    rating_max: float | None = None
    """Highest valid rating; None = 5.0."""
    duplicates: DuplicatePolicy = "latest"
    """What to do with repeated (user, movie) pairs: keep the latest by timestamp, the first or last
    in file order, their mean, or fail."""
    max_reject_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """A file with a larger share of malformed rows fails instead of loading."""
    encoding: str | None = None
    """Text encoding of ratings and movies, used strictly; None = detect (UTF-8, else cp1252,
    else Latin-1; see :mod:`movierec.data.textio`)."""

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("table must name a table, e.g. 'db.ratings'")
        return None if v is None else v.strip()

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.table is not None and (self.path is not None or self.dataset is not None):
            raise ValueError("give one ratings source: table, or path / dataset, not both")
        return self


class SparkConfig(_Section):
    """How the one SparkSession is built (see :func:`movierec.spark.get_spark`)."""

    master: str | None = None
    """Any Spark master URL (``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``, ...).
    None = ``local[*]``, or under ``spark-submit`` the master it was given."""
    remote: str | None = None
    """Spark Connect endpoint (``sc://host:15002``); when set, ``master`` is ignored."""
    app_name: str = "movierec"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(default=4, ge=1)
    """``spark.sql.shuffle.partitions``: small on one machine, larger on a cluster."""
    checkpoint_dir: str | None = None
    """Checkpoint directory for long ALS runs; None = a temporary folder removed at exit."""
    ui: bool = False
    log_level: str = "ERROR"
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra ``spark.*`` settings passed through verbatim (``--conf key=value``)."""
    topn_block_size: int = Field(default=2048, ge=1)
    """Users (and movies) per block of the Spark engine's distributed top-N: one task scores
    one user block against one movie block, holding a few ``topn_block_size``² float64
    matrices (32 MB each at 2048). Results do not depend on it."""


BIASED_ALS_DEFAULTS: dict[str, Any] = {"rank": 40, "reg_param": 0.15, "max_iter": 25}
"""Defaults of ``model = "biased-als"`` where they differ from plain ALS's: the best of a
5-fold study on ml-latest-small (benchmarks/results/biased_defaults.md)."""


EASE_DEFAULTS: dict[str, Any] = {"reg_param": 200.0, "rank": 50, "max_iter": 15}
"""Defaults of ``model = "ease"`` where they differ from plain ALS's: ``reg_param`` is EASE's
λ (the L2 weight on the item-item matrix B; see the README's Models section); rank,
max_iter (and alpha) describe the implicit-als partner of a blend (``ease_blend``), the same
as the ``implicit-als`` candidate's defaults."""

IALS_DEFAULTS: dict[str, Any] = {"rank": 256, "reg_param": 0.00111, "max_iter": 16}
"""Defaults of ``model = "ials"`` where they differ from plain ALS's (rank = d, reg_param =
λ, max_iter = epochs), with ``unobserved_weight`` α0 = 0.3 and ``reg_exponent`` ν = 1.25: the
best NDCG@10 of a seeded 5-fold study on ml-latest-small following Rendle et al.'s recipe
(``python benchmarks/ials_tuning.py --no-ease``, results in
benchmarks/results/ials_tuning.md: NDCG@10 0.3565, P@10 0.2964; the runner-up ν = 1,
λ = 0.006 gives 0.3562)."""

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "biased-als": BIASED_ALS_DEFAULTS,
    "ials": IALS_DEFAULTS,
    "ease": EASE_DEFAULTS,
}


class ALSConfig(_Section):
    """Hyper-parameters of one model fit (Spark MLlib semantics for the ALS kinds).

    ``biased-als``, ``ials`` and ``ease`` have their own defaults (:data:`BIASED_ALS_DEFAULTS`,
    :data:`IALS_DEFAULTS`, :data:`EASE_DEFAULTS`); a value given in the file or on the
    command line wins.
    """

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("model") in MODEL_DEFAULTS:
            return {**MODEL_DEFAULTS[data["model"]], **data}
        return data

    model: ModelKind = "als"
    """``als`` (Spark MLlib ALS on the ratings), ``biased-als`` (mean + user and movie
    biases, ALS on the residuals), ``implicit-als`` (Spark MLlib's implicit-feedback ALS:
    every rating is an interaction; scores rank movies, they are not ratings), ``ials``
    (iALS as Rendle et al. 2022 formulate it: binary preferences, a weight
    ``unobserved_weight`` on every unobserved pair, frequency-scaled regularisation; a
    ranking model, local engine only) or ``ease`` (Steck's EASE item-item model;
    ``reg_param`` is its λ; scores rank movies)."""
    rank: int = Field(default=10, ge=1)
    reg_param: float = Field(default=0.1, ge=0.0)
    max_iter: int = Field(default=15, ge=1)
    bias_reg: float = Field(default=5.0, ge=0.0)
    """Damping of the biased model's biases: b = sum(residual) / (count + bias_reg)."""
    nonnegative: bool = False
    num_blocks: int = Field(default=4, ge=1)
    """Number of user and item blocks; it changes results slightly, so it is fixed, not derived."""
    checkpoint_interval: int = Field(default=10, ge=1)
    alpha: float = Field(default=1.0, ge=0.0)
    """Confidence scale of ``implicit-als`` (Spark's ``alpha``): a rating r > 0 is an
    interaction with confidence 1 + alpha·r; ignored by the explicit models."""
    implicit_solver: ImplicitSolver = "cg"
    """How ``implicit-als`` and ``ials`` solve each row's k×k system in the local engine:
    ``cg`` takes ``cg_steps`` conjugate-gradient steps warm-started from the previous
    iteration's factors (O(n·k + k²) per row and step, as the `implicit` library does);
    ``cholesky`` solves exactly (O(n·k² + k³) per row, Spark's own way). ``nonnegative``
    always solves exactly; the Spark engine always solves exactly."""
    cg_steps: int = Field(default=3, ge=1)
    """Conjugate-gradient steps per row and half-step of ``implicit_solver = "cg"``."""
    unobserved_weight: float = Field(default=0.3, ge=0.0)
    """``ials``'s α0: the weight of the squared score of every (user, movie) pair in the
    loss, Σ_obs (ŷ − 1)² + α0·Σ_all ŷ² (computed through the Gramian, never pair by pair)."""
    reg_exponent: float = Field(default=1.25, ge=0.0)
    """``ials``'s ν: each user's regulariser is reg_param·(|I_u| + α0·|I|)^ν (|I_u| the
    user's movies, |I| all movies), each movie's likewise; ν = 0 is a plain reg_param."""
    init_std: float = Field(default=0.1, gt=0.0)
    """``ials``'s σ: factors start as N(0, σ/√rank) draws."""
    clip_predictions: bool = True
    """Clip predicted ratings to the rating scale wherever they are scored (RMSE/MAE in
    tuning, evaluation, the split comparison, ``evaluate-protocol``); top-N ranks by the
    unclipped scores. Not applied to ``implicit-als`` (its scores are not ratings)."""
    rating_scale: tuple[float, float] | None = None
    """``[lo, hi]`` to clip to; None = the training data's lowest and highest rating."""
    ease_threshold: float | None = 3.0
    """``ease``: a rating >= this is an interaction (X_ui = 1); lower ratings are left out of
    X (those movies are still never recommended to that user). None = every rating. 3.0
    matches the default relevance threshold (``[evaluation] threshold``)."""
    ease_topk: int = Field(default=0, ge=0)
    """``ease``: keep only the k largest-magnitude weights of each row of the item-item
    matrix B (0 = keep B dense). The Spark engine broadcasts B to its executors as these
    sparse rows (items·k values; 0 broadcasts every weight)."""
    ease_session_weight: float = Field(default=1.0, ge=0.0)
    """``ease``: co-occurrences of two movies rated in one session (ratings of a user less
    than ``ease_session_gap`` apart) count 1 + this in XᵀX (other co-occurrences count 1).
    Needs timestamps (without them: plain EASE); 0 = plain EASE. 1.0: see the README's
    Models section (validation gain on ml-latest-small)."""
    ease_session_gap: float = Field(default=3600.0, gt=0.0)
    """``ease``: seconds between two consecutive ratings of a user that start a new session."""
    ease_blend: float = Field(default=0.6, ge=0.0, le=1.0)
    """``ease``: weight w of an implicit-als partner fitted on the same ratings; scores are
    (1 − w)·z(EASE) + w·z(implicit-als), z standardising each user's row (0 = plain EASE;
    0.6: see the README's Models section). The partner uses this section's rank, max_iter
    and alpha and regParam ``ease_blend_reg`` (the ``ease`` candidate of ``run``: the
    ``implicit-als`` candidate's settings)."""
    ease_blend_reg: float = Field(default=0.2, ge=0.0)
    """``ease``: regParam of the blended implicit-als partner."""
    ease_max_items: int = Field(default=20000, ge=1)
    """``ease``: refuse to fit on more movies than this; the dense items×items matrices need
    about 12 bytes per entry (20,000 movies: 4.5 GiB)."""

    @field_validator("rating_scale")
    @classmethod
    def _scale(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"rating_scale must be [lo, hi] with lo < hi, got {list(v)}")
        return v


class SplitConfig(_Section):
    """Hold-out split and the split-ratio comparison."""

    method: Literal["random", "per-user", "time", "leave-last"] = "random"
    """How the final test set is held out: at random by rating, the same share of each user's
    ratings, everything after a time cut, or each user's last ratings."""
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of ratings held out as the final test set (random and per-user; for ``time``
    without ``time_cut`` the cut is the ``1 - test_fraction`` quantile of the timestamps)."""
    time_cut: str | None = None
    """For ``time``: epoch seconds, an ISO date (2015-01-01) or a quantile in (0, 1)."""
    leave_last: int = Field(default=1, ge=1)
    """For ``leave-last``: how many of each user's most recent ratings are held out."""
    train_fractions: list[float] = Field(default_factory=lambda: [0.6, 0.7, 0.75, 0.8])
    """Train shares compared by ``compare-splits`` (the rest of each split is its test set)."""

    @field_validator("train_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("at least one train fraction is needed")
        for f in v:
            if not 0.0 < f < 1.0:
                raise ValueError(f"train fraction {f} is not between 0 and 1")
        return v


class TuningConfig(_Section):
    """k-fold cross-validated search over ALS hyper-parameters (grid, random or Optuna)."""

    models: list[ModelKind] = Field(default_factory=lambda: _all_models())
    """Model kinds searched; the best (model, rank, regParam, maxIter) wins. ``implicit-als``
    needs a ranking objective (its scores are not ratings)."""
    ranks: list[int] = Field(default_factory=lambda: [8, 10, 12])
    reg_params: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.15])
    max_iters: list[int] = Field(default_factory=lambda: [10, 15])
    """Grid values; ``random`` and ``optuna`` also draw maxIter from this list."""
    folds: int = Field(default=3, ge=2)
    parallelism: int = Field(default=2, ge=1)
    """How many fits run at once (threads submitting Spark jobs)."""
    search: Literal["grid", "random", "optuna"] = "grid"
    """``grid``: every combination of the lists above; ``random``: ``trials`` seeded samples
    from the ranges below; ``optuna``: ``trials`` trials of Optuna's seeded TPE sampler
    (``pip install 'movierec[tune]'``)."""
    trials: int = Field(default=20, ge=1)
    """Configurations tried by ``random`` and ``optuna``."""
    objective: str = "rmse"
    """``rmse`` (lower wins), or ``ndcg@K`` / ``recall@K`` (higher wins): catalogue-wide top-K
    lists on each validation fold, that fold's training movies excluded, relevance = rating
    >= the evaluation threshold."""
    rank_range: list[int] = Field(default_factory=lambda: [4, 64])
    """[low, high] of the rank drawn by random/optuna (integers, uniform, inclusive)."""
    reg_range: list[float] = Field(default_factory=lambda: [0.01, 1.0])
    """[low, high] of regParam for random/optuna (log-uniform)."""
    bias_reg_range: list[float] = Field(default_factory=lambda: [1.0, 30.0])
    """[low, high] of biased-als's bias damping for random/optuna (log-uniform)."""
    alpha_range: list[float] = Field(default_factory=lambda: [0.1, 20.0])
    """[low, high] of implicit-als's alpha for random/optuna (log-uniform)."""
    ease_lambdas: list[float] = Field(default_factory=lambda: [50.0, 100.0, 200.0, 400.0, 800.0])
    """Grid values of EASE's λ (its regParam) when ``models`` has ``ease`` (rank and maxIter
    do not apply to it: its rows show 0)."""
    ease_lambda_range: list[float] = Field(default_factory=lambda: [10.0, 5000.0])
    """[low, high] of EASE's λ for random/optuna (log-uniform)."""
    ials_unobserved_weights: list[float] = Field(
        default_factory=lambda: [ALSConfig.model_fields["unobserved_weight"].default]
    )
    """Grid values of ials's α0 (each ials grid point is tried with every α0 and ν; the
    default is the one ``[als]`` default). ials's λ, rank and epochs are ``reg_params``,
    ``ranks`` and ``max_iters`` (its useful λ are small: ≈ 0.0005–0.01)."""
    ials_reg_exponents: list[float] = Field(
        default_factory=lambda: [ALSConfig.model_fields["reg_exponent"].default]
    )
    """Grid values of ials's ν."""
    ials_unobserved_weight_range: list[float] = Field(default_factory=lambda: [0.01, 1.0])
    """[low, high] of ials's α0 for random/optuna (log-uniform)."""
    ials_reg_exponent_range: list[float] = Field(default_factory=lambda: [0.5, 1.5])
    """[low, high] of ials's ν for random/optuna (uniform)."""
    prune: bool = True
    """Stop hopeless configurations after a fold (see ``prune_margin``)."""
    prune_margin: float | None = Field(default=None, gt=0.0)
    """Relative margin of the pruning rule; None = 0.02 for rmse, 0.10 for ranking metrics."""

    def configurations(self) -> list[tuple[ModelKind, int, float, int]]:
        """Every (model, rank, regParam, maxIter) of the grid, in a fixed order; ``ease``
        contributes one (ease, 0, λ, 0) per value of ``ease_lambdas``."""
        out: list[tuple[ModelKind, int, float, int]] = []
        for model in self.models:
            if model == "ease":
                out.extend((model, 0, lam, 0) for lam in self.ease_lambdas)
            else:
                out.extend(itertools.product([model], self.ranks, self.reg_params, self.max_iters))
        return out

    def ials_settings(self) -> list[tuple[float, float]]:
        """Every (α0, ν) an ials grid point is tried with, in a fixed order."""
        return list(itertools.product(self.ials_unobserved_weights, self.ials_reg_exponents))

    def planned_fits(self) -> int:
        """Upper bound on the fits of the search (pruning only makes it smaller)."""
        if self.search != "grid":
            return self.trials * self.folds
        extra = len(self.ials_settings()) - 1
        n = sum(1 + (extra if c[0] == "ials" else 0) for c in self.configurations())
        return n * self.folds

    @property
    def ranking(self) -> tuple[str, int] | None:
        """(metric, k) of a ranking objective, e.g. ("ndcg", 10); None for rmse."""
        if self.objective == "rmse":
            return None
        name, k = self.objective.split("@")
        return name, int(k)

    @field_validator("objective")
    @classmethod
    def _objective(cls, v: str) -> str:
        v = v.strip().lower()
        if v == "rmse":
            return v
        name, _, k = v.partition("@")
        if name not in ("ndcg", "recall") or not k.isdigit() or int(k) < 1:
            raise ValueError(f"objective {v!r} is not rmse, ndcg@K or recall@K (K >= 1)")
        return f"{name}@{int(k)}"

    @model_validator(mode="after")
    def _non_empty(self) -> TuningConfig:
        for name in ("models", "ranks", "reg_params", "max_iters"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name} must list at least one value")
        if any(r < 1 for r in self.ranks) or any(m < 1 for m in self.max_iters):
            raise ValueError("ranks and max_iters must be positive")
        if any(r < 0 for r in self.reg_params):
            raise ValueError("reg_params must be non-negative")
        if not self.ease_lambdas or any(not lam > 0 for lam in self.ease_lambdas):
            raise ValueError("ease_lambdas must list positive values")
        ranges = (
            "rank_range",
            "reg_range",
            "bias_reg_range",
            "alpha_range",
            "ease_lambda_range",
            "ials_unobserved_weight_range",
            "ials_reg_exponent_range",
        )
        for name in ranges:
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
                raise ValueError(f"{name} must be [low, high] with 0 < low <= high")
        for name in ("ials_unobserved_weights", "ials_reg_exponents"):
            values = getattr(self, name)
            if not values or any(not (v >= 0 and math.isfinite(v)) for v in values):
                raise ValueError(f"{name} must list non-negative numbers")
        ranking_only = [m for m in self.models if m in ("implicit-als", "ials", "ease")]
        if self.objective == "rmse" and ranking_only:
            raise ValueError(
                f"{ranking_only[0]} scores are not ratings: tune it with objective ndcg@K or "
                "recall@K"
            )
        return self


class EvaluationConfig(_Section):
    """Evaluation settings."""

    k: int = Field(default=10, ge=1)
    """List length for the top-k metrics."""
    threshold: float = 3.0
    """A rating >= threshold counts as relevant / liked."""


class RecommendConfig(_Section):
    """Top-N recommendation output, and which model makes the lists."""

    n: int = Field(default=10, ge=1)
    """Recommendations per user."""
    recommender: Literal["auto", "rating-model", "implicit-als", "ials", "ease", "most-popular"] = (
        "auto"
    )
    """``auto``: the candidate with the best catalogue NDCG@k on a validation split of the
    development data; or force one. ``rating-model`` is the tuned (lowest-RMSE) model."""
    ease_lambdas: list[float] = Field(default_factory=lambda: [200.0, 100.0, 400.0])
    """λ values the ``ease`` candidate tries on the validation split (the best is its
    configuration; one value = a fixed λ; the first is used when ``ease`` is forced with
    ``recommender``). A tuned λ (``--models ease`` with a ranking objective) replaces them."""
    implicit_rank: int = Field(default=50, ge=1)
    implicit_reg_param: float = Field(default=0.2, ge=0.0)
    implicit_max_iter: int = Field(default=15, ge=1)
    implicit_alpha: float = Field(default=1.0, ge=0.0)
    """Settings of the ``implicit-als`` candidate (rank 50, regParam 0.2, 15 iterations,
    alpha 1: the best of a small search on ml-latest-small, see the README)."""

    @field_validator("ease_lambdas")
    @classmethod
    def _lambdas(cls, v: list[float]) -> list[float]:
        if not v or any(not lam > 0 for lam in v):
            raise ValueError("ease_lambdas must list at least one positive value")
        return v


class InteractionsConfig(_Section):
    """What implicit-als is fitted on (see :mod:`movierec.interactions`)."""

    mode: Literal["rating", "all", "threshold"] = "rating"
    """``rating``: the raw rating (confidence 1 + alpha·r, Spark's behaviour); ``all``: every
    rating is one interaction; ``threshold``: only ratings >= ``threshold`` are interactions.
    Movies rated below the threshold are still never recommended to that user."""
    threshold: float | None = None
    """Cut-off of ``threshold`` mode (rating units); None = the evaluation threshold."""


class RunConfig(_Section):
    """Everything one ``movierec`` invocation needs; the whole object is saved with every run."""

    seed: int = DEFAULT_SEED
    """Seed of every random step: splits, folds and ALS initialisation."""
    engine: Literal["spark", "local"] = "spark"
    """``spark`` (default: Spark MLlib, local mode or any cluster) or ``local`` (in-process,
    same ALS objective, no JVM; for data that fits in this machine's memory)."""
    data: DataConfig = Field(default_factory=DataConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    als: ALSConfig = Field(default_factory=ALSConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    interactions: InteractionsConfig = Field(default_factory=InteractionsConfig)

    @property
    def interaction_threshold(self) -> float:
        """The cut-off of ``[interactions] mode = "threshold"`` (rating units)."""
        t = self.interactions.threshold
        return self.evaluation.threshold if t is None else t


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def build_config(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Build a validated :class:`RunConfig` from an optional TOML file plus overrides.

    ``overrides`` is a nested dict in the same shape as the TOML file (e.g.
    ``{"als": {"rank": 12}}``); its values win over the file's. Keys whose value is None
    are ignored so that unset CLI flags do not erase file values.

    Raises:
        ConfigError: the file is missing or not valid TOML, or a value is invalid.
    """
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {config_file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{config_file}: not UTF-8 text: {exc}") from exc
        except OSError as exc:
            raise ConfigError(
                f"cannot read config file {config_file}: {exc.strerror or exc}"
            ) from exc
    merged = _deep_merge(raw, _drop_none(overrides or {}))
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        source = f"{config_file}: " if config_file else ""
        raise ConfigError(f"{source}invalid configuration: {_describe(exc)}") from exc


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = _drop_none(value)
            if not value:
                continue
        out[key] = value
    return out
