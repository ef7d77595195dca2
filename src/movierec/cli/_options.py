r"""Every shared option of the verbs, declared once; the groups the verbs apply.

Options that set configuration values are :func:`~movierec.cli._config.setting`\ s (each
names the config path it sets, see :mod:`movierec.cli._config`); the others (``--json``,
``--out``, ``-v/-q``, ``--model DIR``, ``--mlflow``) are plain click options made by the
factories of :mod:`movierec.cli._flags` (re-exported here), so every verb spells them the
same way.
"""

from __future__ import annotations

from movierec.cli._config import CONFIG, options, setting
from movierec.cli._config import given as given  # re-exported: the verbs import _options
from movierec.cli._config import make_config as make_config
from movierec.cli._flags import json_option as json_option  # re-exported, as below
from movierec.cli._flags import mlflow_options as mlflow_options
from movierec.cli._flags import model_dir_option as model_dir_option
from movierec.cli._flags import out_option as out_option
from movierec.cli._flags import verbosity
from movierec.cli._types import (
    PATH_OR_URI,
    ModelKindChoice,
    columns,
    config_choice,
    confs,
    floats,
    ints,
    model_list,
)

# config is imported by the movierec package anyway (pydantic only): choices come from its Literals
from movierec.config import (
    DataConfig,
    InteractionsConfig,
    RecommendConfig,
    RunConfig,
    SplitConfig,
    TuningConfig,
)

# ---------------------------------------------------------------- settings (config values)

# data
DATA = setting(
    "--data",
    path="data.path",
    type=PATH_OR_URI,
    help="Ratings file or MovieLens folder (local, or hdfs://, s3a:// … via Spark).",
)
DATASET = setting(
    "--dataset",
    path="data.dataset",
    help="A GroupLens release by name (see `movierec datasets list`).",
)
TABLE = setting(
    "--table",
    path="data.table",
    help="A Spark SQL table of ratings (e.g. db.ratings; Spark engine), instead of --data.",
)
MOVIES = setting(
    "--movies", path="data.movies", type=PATH_OR_URI, help="Movies file with titles and genres."
)
FORMAT = setting(
    "--format",
    path="data.format",
    type=config_choice(DataConfig, "format"),
    help="Input layout (default: auto-detect).",
)
SEP = setting(
    "--sep",
    path="data.sep",
    help=r"Field separator of delimited text: '\t', ',', '::' or 'whitespace'.",
)
HEADER = setting(
    "--header/--no-header",
    path="data.header",
    default=None,
    help="Whether delimited text has a header row.",
)
COLUMN = setting(
    "--column",
    path="data.columns",
    parse=columns,
    multiple=True,
    help="Column mapping canonical=source, e.g. user_id=uid.",
)
DUPLICATES = setting(
    "--duplicates",
    path="data.duplicates",
    type=config_choice(DataConfig, "duplicates"),
    help="Policy for repeated (user, movie) pairs (default: latest).",
)
RATING_MIN = setting(
    "--rating-min",
    path="data.rating_min",
    type=float,
    help="Lowest valid rating (default: the layout's scale).",
)
RATING_MAX = setting(
    "--rating-max", path="data.rating_max", type=float, help="Highest valid rating (default 5.0)."
)

# run-wide and Spark
SEED = setting("--seed", path="seed", type=int, help="Seed of every random step (default 42).")
ENGINE = setting(
    "--engine",
    path="engine",
    type=config_choice(RunConfig, "engine"),
    help="spark (default; local mode or a cluster) or local (in-process, no JVM).",
)
MASTER = setting("--master", path="spark.master", help="Spark master URL (default local[*]).")
REMOTE = setting(
    "--remote", path="spark.remote", help="Spark Connect endpoint, e.g. sc://host:15002."
)
CONF = setting(
    "--conf",
    path="spark.conf",
    parse=confs,
    multiple=True,
    help="Extra Spark setting key=value (repeatable).",
)
DRIVER_MEMORY = setting(
    "--driver-memory", path="spark.driver_memory", help="Spark driver memory, e.g. 4g."
)

# one ALS fit
RANK = setting(
    "--rank",
    path="als.rank",
    type=int,
    help="Number of latent factors (default 10; biased-als: 40).",
)
REG_PARAM = setting(
    "--reg-param",
    path="als.reg_param",
    type=float,
    help="ALS regularisation (default 0.1; biased-als: 0.15).",
)
MAX_ITER = setting(
    "--max-iter", path="als.max_iter", type=int, help="ALS iterations (default 15; biased-als: 25)."
)
MODEL_KIND = setting(
    "--model",
    path="als.model",
    type=ModelKindChoice(),
    help="als (Spark MLlib ALS), biased-als (mean + biases + ALS on residuals) or "
    "implicit-als (implicit-feedback ALS: ranking scores, not ratings).",
)
BIAS_REG = setting(
    "--bias-reg", path="als.bias_reg", type=float, help="Bias damping of biased-als (default 5)."
)
ALPHA = setting(
    "--alpha",
    path="als.alpha",
    type=float,
    help="Confidence scale of implicit-als: confidence 1 + alpha·rating (default 1).",
)
CLIP = setting(
    "--clip/--no-clip",
    path="als.clip_predictions",
    default=None,
    help="Clip predicted ratings to the rating scale where they are scored (default on).",
)
RATING_SCALE = setting(
    "--rating-scale",
    path="als.rating_scale",
    parse=floats,
    help="LO,HI that predicted ratings are clipped to (default: the training data's range).",
)

# the hold-out split and the split comparison
SPLIT = setting(
    "--split",
    path="split.method",
    type=config_choice(SplitConfig, "method"),
    help="How the test set is held out (default random).",
)
TEST_FRACTION = setting(
    "--test-fraction", path="split.test_fraction", type=float, help="Hold-out share (default 0.2)."
)
TIME_CUT = setting(
    "--time-cut",
    path="split.time_cut",
    help="time: epoch seconds, an ISO date or a quantile such as 0.8.",
)
LEAVE_LAST = setting(
    "--leave-last",
    path="split.leave_last",
    type=int,
    help="leave-last: each user's K most recent ratings (default 1).",
)
TRAIN_FRACTIONS = setting(
    "--train-fractions",
    path="split.train_fractions",
    parse=floats,
    help="Train shares to compare (default 0.6,0.7,0.75,0.8).",
)

# tuning: the grid and the search
TUNE_MODELS = setting(
    "--models",
    path="tuning.models",
    parse=model_list,
    help="Model kinds to tune (default als,biased-als).",
)
RANKS = setting("--ranks", path="tuning.ranks", parse=ints, help="Grid of ranks, e.g. 8,10,12.")
REG_PARAMS = setting(
    "--reg-params",
    path="tuning.reg_params",
    parse=floats,
    help="Grid of regParam values, e.g. 0.05,0.1,0.15.",
)
MAX_ITERS = setting(
    "--max-iters", path="tuning.max_iters", parse=ints, help="Grid of maxIter values, e.g. 10,15."
)
FOLDS = setting(
    "--folds", path="tuning.folds", type=int, help="Cross-validation folds (default 3)."
)
PARALLELISM = setting(
    "--parallelism",
    path="tuning.parallelism",
    type=int,
    help="Fits run at once during tuning (default 2).",
)
INTERACTIONS = setting(
    "--interactions",
    path="interactions.mode",
    type=config_choice(InteractionsConfig, "mode"),
    help="What implicit-als is fitted on: the raw rating (default), every rating as 1, "
    "or only ratings >= --interaction-threshold.",
)
INTERACTION_THRESHOLD = setting(
    "--interaction-threshold",
    path="interactions.threshold",
    type=float,
    help="Cut-off of --interactions threshold (default: the evaluation threshold).",
)
SEARCH = setting(
    "--search",
    path="tuning.search",
    type=config_choice(TuningConfig, "search"),
    help="grid (default), seeded random samples, or Optuna TPE (pip install 'movierec[tune]').",
)
TRIALS = setting(
    "--trials",
    path="tuning.trials",
    type=int,
    help="Configurations tried by random/optuna (default 20).",
)
OBJECTIVE = setting(
    "--objective",
    path="tuning.objective",
    help="rmse (default), ndcg@K or recall@K (catalogue top-K on each validation fold).",
)
PRUNE = setting(
    "--prune/--no-prune",
    path="tuning.prune",
    default=None,
    help="Stop hopeless configurations after a fold (default on).",
)
PRUNE_MARGIN = setting(
    "--prune-margin",
    path="tuning.prune_margin",
    type=float,
    help="Relative margin of pruning (default 0.02 for rmse, 0.10 for ranking metrics).",
)
RANK_RANGE = setting(
    "--rank-range",
    path="tuning.rank_range",
    parse=ints,
    help="LO,HI of the rank for random/optuna (default 4,64).",
)
REG_RANGE = setting(
    "--reg-range",
    path="tuning.reg_range",
    parse=floats,
    help="LO,HI of regParam, log-uniform (default 0.01,1).",
)
BIAS_REG_RANGE = setting(
    "--bias-reg-range",
    path="tuning.bias_reg_range",
    parse=floats,
    help="LO,HI of biased-als biasReg (default 1,30).",
)
ALPHA_RANGE = setting(
    "--alpha-range",
    path="tuning.alpha_range",
    parse=floats,
    help="LO,HI of implicit-als alpha (default 0.1,20).",
)

# evaluation and recommendation
K = setting(
    "--k", path="evaluation.k", type=int, help="List length of the top-k metrics (default 10)."
)
THRESHOLD = setting(
    "--threshold",
    path="evaluation.threshold",
    type=float,
    help="Rating >= threshold is relevant, in the metrics and ranking objectives (default 3.0).",
)
N = setting("--n", path="recommend.n", type=int, help="Recommendations per user (default 10).")
RECOMMENDER = setting(
    "--recommender",
    path="recommend.recommender",
    type=config_choice(RecommendConfig, "recommender"),
    help="Model that makes the lists (default auto: best validation NDCG@k).",
)


# ---------------------------------------------------------------- option groups of the verbs

data_options = options(
    DATA, DATASET, TABLE, MOVIES, FORMAT, SEP, HEADER, COLUMN, DUPLICATES, RATING_MIN, RATING_MAX
)
"""Where the ratings come from and how they are read."""

common_options = options(CONFIG, SEED, ENGINE, MASTER, REMOTE, CONF, DRIVER_MEMORY, verbosity())
"""--config, --seed, --engine, the Spark session, -v/-q."""

als_options = options(RANK, REG_PARAM, MAX_ITER, MODEL_KIND, BIAS_REG, ALPHA, CLIP, RATING_SCALE)
"""One ALS fit's hyper-parameters."""

split_options = options(SPLIT, TEST_FRACTION, TIME_CUT, LEAVE_LAST)
"""How the final test set is held out."""

search_options = options(
    INTERACTIONS,
    INTERACTION_THRESHOLD,
    SEARCH,
    TRIALS,
    OBJECTIVE,
    PRUNE,
    PRUNE_MARGIN,
    RANK_RANGE,
    REG_RANGE,
    BIAS_REG_RANGE,
    ALPHA_RANGE,
)
"""Search method, objective, pruning, ranges of random/optuna, implicit-als interactions."""

grid_options = options(
    TUNE_MODELS, RANKS, REG_PARAMS, MAX_ITERS, FOLDS, PARALLELISM, search_options
)
"""The tuning grid, then :data:`search_options`."""

eval_options = options(K, THRESHOLD)
"""Top-k length and relevance threshold."""
