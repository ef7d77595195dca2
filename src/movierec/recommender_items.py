"""Similar movies and new users for a :class:`~movierec.recommender.Recommender`, from the
fitted factors: cosine similarity of item factors, and a new user's fold-in against the fixed
item factors with the training regularisation (the service's numpy scorer; ``ials`` through
:func:`movierec.ials.fold_in`).

>>> rec.recommend_for({10: 5.0, 20: 4.0}, n=5, titles=False)["movie_id"].tolist()
[30]
"""

from __future__ import annotations

import logging
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.data.anyinput import column_map
from movierec.engines import ALSParams
from movierec.errors import ConfigError, ModelError
from movierec.ids import lookup_ids
from movierec.recommender_input import SCORER_KINDS, _Fitted, _present
from movierec.schema import ITEM, RANK, RATING, SCORE, TITLE, USER

if TYPE_CHECKING:
    from movierec.service.scorer import Scorer

log = logging.getLogger("movierec.recommender")


class NewUsersAndSimilar:
    """The Recommender's similar-movies and new-user methods (a mix-in: it needs the
    fitted state, the parameters, ``save`` and ``_decorate`` of the Recommender)."""

    params: ALSParams
    _columns: dict[str, str]
    _folder: Path | None
    _scorer: Scorer | None

    def _state(self) -> _Fitted:
        raise NotImplementedError  # Recommender._state

    def save(self, path: str | Path) -> Path:
        raise NotImplementedError  # Recommender.save

    def _decorate(self, recs: pd.DataFrame, titles: bool) -> pd.DataFrame:
        raise NotImplementedError  # Recommender._decorate

    def scorer(self) -> Scorer:
        """The service's numpy scorer of this model (saved once to a private folder when it
        was fitted here). Raises ModelError for ``ials``, which the service cannot serve."""
        from movierec.service.scorer import Scorer

        if self._scorer is None:
            if self.params.model not in SCORER_KINDS:
                raise ModelError(f"the service scorer cannot serve {self.params.model} models")
            if self._folder is None:
                tmp = tempfile.TemporaryDirectory(prefix="movierec-api-")
                weakref.finalize(self, tmp.cleanup)
                self._folder = self.save(Path(tmp.name) / "model")
            self._scorer = Scorer.load(self._folder)
        return self._scorer

    def _movie_row(self, movie: Any) -> tuple[np.ndarray, np.ndarray, int]:
        """(sorted dense item ids, item factors, row of ``movie``: an id, else a title)."""
        from movierec.titles import TitleIndex

        f = self._state()
        factors = f.factors()
        item_ids = np.asarray(factors.item_ids)
        titles = [""] * len(item_ids)
        if f.loaded.movies is not None:
            by_id = dict(zip(f.loaded.movies[ITEM].tolist(), f.loaded.movies[TITLE].tolist()))
            titles = [str(by_id.get(int(i), "")) for i in item_ids]
        text = str(movie).strip()
        dense = lookup_ids(np.asarray([movie], dtype=object), f.loaded.item_ids, item_ids)
        if dense[0] >= 0:
            return item_ids, factors.item_factors, int(np.searchsorted(item_ids, dense[0]))
        if not any(titles):
            raise ConfigError(f"movie {movie!r} is not in the model, and it has no titles")
        counts = f.handle.aggregates()[1]
        popularity = [float(counts.get(int(i), 0)) for i in item_ids]
        try:
            found = TitleIndex(list(range(len(item_ids))), titles, None, popularity).search(text)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if not found.candidates:
            raise ConfigError(f"no movie title matches {movie!r}")
        best = found.candidates[0]
        if found.ambiguous:
            log.info("%r matches %d titles; using %r", movie, len(found.candidates), best.title)
        return item_ids, factors.item_factors, int(best.movie_id)

    def similar_items(self, movie: Any, n: int = 10, *, titles: bool = True) -> pd.DataFrame:
        """The ``n`` movies closest to ``movie`` (an original id, or a title searched
        fuzzily: the best match is taken) by cosine similarity of the item factors (the
        service's ``/movies/{id}/similar`` numbers). Columns: movie_id, (title, genres,)
        score.

        >>> list(rec.similar_items(10, n=2, titles=False).columns)
        ['movie_id', 'score']

        Raises:
            ConfigError: no movie matches.
        """
        from movierec.service.scorer import top_k

        item_ids, y, row = self._movie_row(movie)
        if self.params.model in SCORER_KINDS:
            rows, scores = self.scorer().similar(row, n)
        else:  # ials: cosine of its factors, the same ranking rule (ties by movie id)
            unit = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-300)
            s = unit.astype(np.float64) @ unit[row].astype(np.float64)
            s[row] = -np.inf
            rows = top_k(s, n)
            scores = s[rows]
        return self._items(item_ids[rows], scores, titles)

    def _items(self, dense: np.ndarray, scores: np.ndarray, titles: bool) -> pd.DataFrame:
        """movie_id, (title, genres,) score of dense movie ids, in the given order."""
        recs = pd.DataFrame(
            {
                USER: np.zeros(len(dense), dtype=np.int32),
                ITEM: np.asarray(dense, dtype=np.int32),
                SCORE: np.asarray(scores, dtype=np.float64),
                RANK: np.arange(1, len(dense) + 1, dtype=np.int32),
            }
        )
        return self._decorate(recs, titles).drop(columns=[USER, RANK]).reset_index(drop=True)

    def recommend_for(
        self,
        ratings: Any,
        n: int = 10,
        *,
        item_col: str | None = None,
        rating_col: str | None = None,
        titles: bool = True,
    ) -> pd.DataFrame:
        """Top-``n`` movies for a *new* user given their ratings, without retraining: the
        user's factors are folded in against the fixed item factors with the training
        regularisation (the service's fold-in; :func:`movierec.ials.fold_in` for ``ials``).
        ``ratings``: a ``{movie_id: rating}`` dict or a DataFrame of movies and ratings
        (original ids). Rated movies are not recommended; unknown movies are ignored.

        >>> rec.recommend_for({10: 5.0, 20: 4.0}, n=5, titles=False)["movie_id"].tolist()
        [30]

        Raises:
            ConfigError: none of the rated movies is known to the model.
        """
        from movierec.service.scorer import top_k

        f = self._state()
        if isinstance(ratings, dict):
            movies, values = list(ratings), [float(v) for v in ratings.values()]
        else:
            from movierec.data.frames import frame_columns

            frame = pd.DataFrame(ratings)
            names = [str(c) for c in frame.columns]
            given = {**self._columns, **column_map(None, item_col, rating_col)}
            m = frame_columns(names, _present(given, names), (ITEM, RATING))
            movies = frame[m[ITEM]].tolist()
            values = frame[m[RATING]].astype(float).tolist()
        factors = f.factors()
        item_ids = np.asarray(factors.item_ids)
        dense = lookup_ids(np.asarray(movies, dtype=object), f.loaded.item_ids, item_ids)
        ok = dense >= 0
        if not ok.any():
            raise ConfigError("none of the rated movies is known to the model")
        rows = np.searchsorted(item_ids, dense[ok])
        r = np.asarray(values, dtype=np.float64)[ok]
        if self.params.model in SCORER_KINDS:
            scorer = self.scorer()
            fold = scorer.fold_in(rows, r)
            best, scores = scorer.recommend_vector(fold, n)
        else:
            from movierec.ials import fold_in

            p = self.params
            y = np.asarray(factors.item_factors)
            x = fold_in(
                y,
                rows,
                reg_param=p.reg_param,
                unobserved_weight=p.unobserved_weight,
                reg_exponent=p.reg_exponent,
            )
            s = y.astype(np.float64) @ x.astype(np.float64)
            s[rows] = -np.inf
            best = top_k(s, n)
            scores = s[best]
        return self._items(item_ids[best], scores, titles)
