"""``Recommender``: one object a notebook fits, asks and saves, over both engines and every
model kind.

It speaks the data's *original* ids and titles, and calls the engines only through their
public contract (``engine.data`` / ``engine.fit`` / ``model.predict`` / ``model.recommend``),
:func:`movierec.model_io.save_model` / :func:`~movierec.model_io.load_model_dir`, and the
service's numpy :class:`~movierec.service.scorer.Scorer` (similar movies, fold-in of a new
user) or :func:`movierec.ials.fold_in` for ``ials``. Defaults per model kind come from
:class:`~movierec.config.ALSConfig` (the one config source); predicted ratings are clipped
to the training scale as the CLI clips them.

>>> import movierec, pandas as pd
>>> ratings = pd.DataFrame({"userId": [1, 1, 2, 2, 3], "movieId": [10, 20, 10, 30, 20],
...                         "rating": [4.0, 3.0, 5.0, 2.0, 4.5]})
>>> rec = movierec.Recommender("biased-als", rank=2, max_iter=3).fit(ratings)
>>> rec.params.reg_param   # biased-als's own default
0.15
>>> rec.recommend([1], n=1, titles=False)["movie_id"].tolist()   # never a seen movie
[30]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.api_load import LoadedSparkRatings
from movierec.api_results import Evaluation
from movierec.config import DEFAULT_SEED
from movierec.data.anyinput import column_map, is_spark_frame, load_ratings
from movierec.errors import ConfigError, ModelError
from movierec.ids import lookup_ids
from movierec.schema import GENRES, ITEM, PREDICTION, RATING, TIMESTAMP, TITLE, USER

if TYPE_CHECKING:
    from movierec.service.scorer import Scorer

from movierec.recommender_input import (
    _borrow_spark_load,
    _Catalogue,
    _col_args,
    _engine,
    _Fitted,
    _params,
    _present,
    _read_on_spark,
)
from movierec.recommender_items import NewUsersAndSimilar

log = logging.getLogger(__name__)


class Recommender(NewUsersAndSimilar):
    """A model of one kind (``als``, ``biased-als``, ``implicit-als``, ``ials``) on one engine
    (``"local"``, ``"spark"``, or your own SparkSession, used as it is).

    ``params`` are :class:`~movierec.config.ALSConfig` fields (``rank``, ``reg_param``,
    ``max_iter``, ``bias_reg``, ``alpha`` …); left out, they take the kind's defaults.
    ``interactions`` (``rating``, ``all``, ``threshold``) and ``interaction_threshold`` say
    what an implicit model is fitted on (:mod:`movierec.interactions`).

    >>> Recommender("ials").params.rank   # ials's own default (config.IALS_DEFAULTS)
    256

    Raises:
        ConfigError: an unknown kind, a bad parameter, or an unknown engine.
    """

    def __init__(
        self,
        kind: str = "als",
        engine: Any = "local",
        *,
        seed: int = DEFAULT_SEED,
        interactions: str = "rating",
        interaction_threshold: float = 3.0,
        **params: Any,
    ) -> None:
        self.params = _params(kind, seed, params)
        self.kind = kind
        self._engine_spec = engine
        self.interactions = interactions
        self.interaction_threshold = interaction_threshold
        self._fitted: _Fitted | None = None
        self._columns: dict[str, str] = {}
        """The source column names given to :meth:`fit` (canonical -> source); predict,
        recommend_for and evaluate read the same names by default."""
        self._folder: Path | None = None
        self._scorer: Scorer | None = None

    def __repr__(self) -> str:
        state = "fitted" if self._fitted is not None else "not fitted"
        p = self.params
        return f"Recommender({p.model!r}, rank={p.rank}, reg_param={p.reg_param}, {state})"

    # ------------------------------------------------------------------ fit / load

    def fit(
        self,
        ratings: Any,
        *,
        user_col: str | None = None,
        item_col: str | None = None,
        rating_col: str | None = None,
        timestamp_col: str | None = None,
        movies: Any = None,
        **load_options: Any,
    ) -> Recommender:
        """Validate ``ratings`` (a path, dataset name, pandas or Spark DataFrame, a
        :class:`~movierec.data.LoadedRatings` or a :class:`~movierec.LoadedSparkRatings`; see
        :func:`movierec.load_ratings`) and fit. A ``LoadedSparkRatings`` is used as loaded
        (column and load options are ignored): on the Spark engine its cached ratings are
        borrowed, not copied (its ``release`` frees them); the local engine collects it
        (``to_pandas``).

        >>> import pandas as pd
        >>> df = pd.DataFrame({"u": [1, 2], "m": [5, 5], "r": [4.0, 3.0]})
        >>> Recommender(rank=2, max_iter=2).fit(df, user_col="u", item_col="m", rating_col="r")
        Recommender('als', rank=2, reg_param=0.1, fitted)

        Returns ``self``. Raises: MovierecError for bad data or an engine failure.
        """
        from movierec.engines.clipping import with_clipping
        from movierec.interactions import fit_model

        self.close()
        self._columns = column_map(user_col, item_col, rating_col, timestamp_col)
        engine = _engine(self._engine_spec)
        if isinstance(ratings, LoadedSparkRatings) and engine.name == "spark":
            handle, catalogue = _borrow_spark_load(engine, ratings)
        elif engine.name == "spark" and is_spark_frame(ratings):
            handle, catalogue = _read_on_spark(engine, ratings, self._columns, movies)
        elif isinstance(ratings, LoadedSparkRatings):  # the local engine needs the rows here
            loaded = ratings.to_pandas()
            handle = engine.data(loaded.ratings)
            catalogue = _Catalogue(loaded.movies, loaded.user_ids, loaded.item_ids)
        else:
            args = {**_col_args(self._columns), **load_options}
            loaded = load_ratings(ratings, movies=movies, **args)
            handle = engine.data(loaded.ratings)
            catalogue = _Catalogue(loaded.movies, loaded.user_ids, loaded.item_ids)
        try:
            fitted = fit_model(
                engine, handle, self.params, self.interactions, self.interaction_threshold
            )
        except BaseException:
            handle.release()
            raise
        model = with_clipping(fitted, handle)
        self.params = model.params
        self._fitted = _Fitted(engine, handle, model, catalogue)
        return self

    @classmethod
    def load(cls, path: str | Path, engine: Any = None) -> Recommender:
        """A model folder (written by :meth:`save`, ``movierec train`` or ``run``'s
        ``model/``) ready to use; ``engine`` defaults to the one that trained it.

        >>> path = rec.save(tmp / "model")
        >>> Recommender.load(path).recommend([1], n=1, titles=False)["movie_id"].tolist()
        [30]

        Raises:
            ModelError: the folder is missing, damaged or incompatible.
        """
        from movierec.engines.clipping import with_clipping
        from movierec.model_io import load_model_dir

        saved = load_model_dir(Path(path))
        chosen = _engine(engine if engine is not None else saved.meta["engine"])
        self = cls.__new__(cls)
        self.params = saved.params
        self.kind = saved.params.model
        self._engine_spec = chosen
        self.interactions = "rating"
        self.interaction_threshold = 3.0
        self._scorer = None
        api = (saved.meta.get("config") or {}).get("api") or {}
        self._columns = {str(k): str(v) for k, v in (api.get("columns") or {}).items()}
        self._folder = Path(path)
        model = chosen.load(saved.engine_path, saved.params)
        handle = chosen.read_table(saved.train_path)  # where the engine works
        catalogue = _Catalogue(saved.movies, saved.user_ids, saved.item_ids)
        self._fitted = _Fitted(chosen, handle, with_clipping(model, handle), catalogue)
        return self

    def save(self, path: str | Path) -> Path:
        """Write a complete model folder (the format of ``movierec train``: it serves with
        ``movierec serve`` and loads with :meth:`load`); an earlier model folder there is
        replaced. Returns the path.

        >>> (rec.save(tmp / "saved") / "model.json").is_file()
        True
        """
        from movierec.model_io import save_model

        f = self._state()
        out = save_model(
            f.model,
            Path(path),
            engine=f.engine.name,
            train=f.handle,
            movies=f.loaded.movies,
            user_ids=f.loaded.user_ids,
            item_ids=f.loaded.item_ids,
            config={"api": {"interactions": self.interactions, "columns": self._columns}},
        )
        return out

    def close(self) -> None:
        """Free engine-side caches (Spark) of the fitted model; it must be fitted again."""
        if self._fitted is not None:
            self._fitted.model.release()
            self._fitted.handle.release()
            self._fitted = None
        self._scorer = None

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ ids

    def _state(self) -> _Fitted:
        if self._fitted is None:
            raise ModelError("the Recommender is not fitted: call fit(ratings) or load(path)")
        return self._fitted

    def _dense_users(self, users: Any) -> tuple[np.ndarray, list[Any]]:
        f = self._state()
        wanted = list(np.atleast_1d(np.asarray(users, dtype=object)))
        known = np.asarray(f.factors().user_ids)
        dense = lookup_ids(np.asarray(wanted, dtype=object), f.loaded.user_ids, known)
        unknown = [u for u, d in zip(wanted, dense.tolist()) if d < 0]
        return dense[dense >= 0].astype(np.int32), unknown

    def _decorate(self, recs: pd.DataFrame, titles: bool) -> pd.DataFrame:
        from movierec.lists import decorate

        f = self._state()
        movies = f.loaded.movies if titles else None
        out = decorate(recs, movies, f.loaded.user_ids, f.loaded.item_ids)
        return out if titles else out.drop(columns=[TITLE, GENRES])

    # ------------------------------------------------------------------ scoring

    def predict(
        self,
        pairs: Any,
        *,
        user_col: str | None = None,
        item_col: str | None = None,
    ) -> pd.DataFrame:
        """``pairs`` (a DataFrame of users and movies in original ids) with a ``prediction``
        column: the predicted rating, clipped to the training scale as the CLI clips it
        (``implicit-als``/``ials``: the preference score). Unknown users or movies: NaN.

        >>> out = rec.predict(pd.DataFrame({"userId": [1, 99], "movieId": [30, 30]}))
        >>> bool(0.5 <= out.prediction[0] <= 5.0), bool(out.prediction.isna()[1])
        (True, True)

        Raises:
            ModelError: not fitted. DataError: the user or movie column is missing.
        """
        from movierec.data.frames import frame_columns

        f = self._state()
        frame = pd.DataFrame(pairs)
        names = [str(c) for c in frame.columns]
        given = {**self._columns, **column_map(user_col, item_col)}
        mapping = frame_columns(names, _present(given, names), (USER, ITEM))
        u = frame[mapping[USER]].to_numpy(dtype=object)
        i = frame[mapping[ITEM]].to_numpy(dtype=object)
        known_u = np.asarray(f.factors().user_ids)
        known_i = np.asarray(f.factors().item_ids)
        du = lookup_ids(u, f.loaded.user_ids, known_u)
        di = lookup_ids(i, f.loaded.item_ids, known_i)
        ok = (du >= 0) & (di >= 0)
        out = np.full(len(frame), np.nan)
        if ok.any():
            dense = pd.DataFrame({USER: du[ok].astype(np.int32), ITEM: di[ok].astype(np.int32)})
            out[ok] = f.model.predict(dense)
        return frame.assign(**{PREDICTION: out})

    def recommend(
        self, users: Any, n: int = 10, *, exclude_seen: bool = True, titles: bool = True
    ) -> pd.DataFrame:
        """Top-``n`` movies for ``users`` (original ids; one id or a list): columns
        user_id, rank, movie_id, (title, genres,) score. ``exclude_seen`` leaves out the
        movies each user rated in the training data.

        >>> rec.recommend([1, 2], n=1, titles=False)[["user_id", "movie_id"]].values.tolist()
        [[1, 30], [2, 20]]

        Raises:
            ConfigError: a user the model does not know, or n < 1.
        """
        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        f = self._state()
        dense, unknown = self._dense_users(users)
        if unknown:
            raise ConfigError(f"unknown user id(s), not in the training data: {unknown[:10]}")
        recs = f.model.recommend(dense, n, exclude=f.handle if exclude_seen else None)
        return self._decorate(recs, titles)

    def recommend_all(self, n: int = 10, *, exclude_seen: bool = True, titles: bool = True) -> Any:
        """Top-``n`` unseen movies for every training user: a pandas DataFrame on the local
        engine, a Spark DataFrame on Spark (computed by the executors, never collected).

        >>> rec.recommend_all(1, titles=False)["user_id"].tolist()
        [1, 2, 3]
        """
        f = self._state()
        exclude = f.handle if exclude_seen else None
        if f.engine.name == "spark":
            from movierec.api_spark import decorate_spark, recommend_spark

            top = recommend_spark(f.model, n, exclude)
            return decorate_spark(top, f.engine, f.loaded, titles)
        return self._decorate(f.model.recommend(None, n, exclude=exclude), titles)

    # ------------------------------------------------------------------ evaluate

    def evaluate(
        self,
        test: Any,
        *,
        k: int = 10,
        threshold: float = 3.0,
        baselines: bool = True,
        **load_options: Any,
    ) -> Evaluation:
        """Score the model on ``test`` (any source :func:`movierec.load_ratings` reads, in
        the training data's original ids): RMSE/MAE of the clipped predictions, catalogue
        top-``k`` metrics (relevance = rating >= ``threshold``, training movies excluded),
        beyond-accuracy, and with ``baselines`` the global mean, bias and most-popular on the
        same rows. Returns an :class:`~movierec.api_results.Evaluation`.

        >>> test = pd.DataFrame({"userId": [1, 3], "movieId": [30, 10], "rating": [4.0, 2.0]})
        >>> list(rec.evaluate(test, k=2).to_frame().index)
        ['biased-als', 'global_mean', 'bias', 'most_popular']
        """
        from movierec.evaluation import evaluate as evaluate_model
        from movierec.model_io import SavedModel, align_test_ids
        from movierec.workflows import predicts_ratings, ranking_only

        f = self._state()
        names = {
            USER: "user_col",
            ITEM: "item_col",
            RATING: "rating_col",
            TIMESTAMP: "timestamp_col",
        }
        defaults = {names[c]: v for c, v in self._columns.items() if c != TIMESTAMP}
        loaded = load_ratings(test, **{**defaults, **load_options})
        ref = SavedModel(
            path=Path("."),
            meta={},
            factors=f.factors(),
            movies=f.loaded.movies,
            user_ids=f.loaded.user_ids,
            item_ids=f.loaded.item_ids,
        )
        aligned = align_test_ids(loaded, ref)
        metrics = evaluate_model(
            f.model,
            f.handle,
            aligned,
            k=k,
            threshold=threshold,
            with_baselines=baselines,
            movies=f.loaded.movies,
        )
        if not predicts_ratings(self.params.model):
            metrics = ranking_only(metrics)
        return Evaluation(metrics, k, threshold)
