"""View models of the report's test-metric, recommendation, timing and configuration sections;
the prose and markup are in the matching templates."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.metrics import METRIC_DEFINITIONS
from movierec.recommend import top_rated
from movierec.report.format import integer, num, pct
from movierec.report.view import Cell, Table, table
from movierec.schema import GENRES, ITEM, RATING, SCORE, TITLE, USER

SAMPLE_USERS = 3
LIST_LENGTH = 10

# (label, section of the metrics dict or "" for top level, key, METRIC_DEFINITIONS key)
_METRIC_ROWS: list[tuple[str, str, str, str]] = [
    ("RMSE", "", "rmse", "rating_errors.rmse"),
    ("MAE", "", "mae", "rating_errors.mae"),
    ("MSE", "", "mse", "rating_errors.mse"),
    ("pairwise precision", "pairwise", "precision", "pairwise_prf.precision"),
    ("pairwise recall", "pairwise", "recall", "pairwise_prf.recall"),
    ("pairwise F1", "pairwise", "f1", "pairwise_prf.f1"),
    ("in-test precision@k", "within_test_top_k", "precision", "within_test_top_k.precision"),
    ("in-test recall@k", "within_test_top_k", "recall", "within_test_top_k.recall"),
    ("in-test F1@k", "within_test_top_k", "f1", "within_test_top_k.f1"),
    ("catalogue precision@k", "catalogue_top_k", "precision", "catalogue_top_k.precision"),
    ("catalogue recall@k", "catalogue_top_k", "recall", "catalogue_top_k.recall"),
    (
        "catalogue normalised recall@k",
        "catalogue_top_k",
        "recall_norm",
        "catalogue_top_k.recall_norm",
    ),
    ("catalogue F1@k", "catalogue_top_k", "f1", "catalogue_top_k.f1"),
    ("catalogue NDCG@k", "catalogue_top_k", "ndcg", "catalogue_top_k.ndcg"),
    ("catalogue MAP@k", "catalogue_top_k", "map", "catalogue_top_k.map"),
    ("catalogue hit rate@k", "catalogue_top_k", "hit_rate", "catalogue_top_k.hit_rate"),
]

_BASELINE_NAMES = {
    "global_mean": "global mean",
    "bias": "bias (user + movie)",
    "most_popular": "most popular",
}


def test_view(s: Mapping[str, Any]) -> dict[str, Any] | None:
    """The test metrics beside every baseline; None without a test evaluation."""
    test = s.get("test") or {}
    if not test:
        return None
    columns: list[tuple[str, Mapping[str, Any]]] = [(str(test.get("model", "model")), test)]
    for key, metrics in (s.get("baselines") or {}).items():
        columns.append((_BASELINE_NAMES.get(key, key.replace("_", " ")), metrics or {}))
    k = test.get("k", "k")
    threshold = test.get("threshold")
    headers = ["Metric"] + [name for name, _ in columns] + ["Definition"]
    headers[1] += " (tuned model)"
    rows = []
    for label, section, key, def_key in _METRIC_ROWS:
        values = []
        for _, metrics in columns:
            value = (metrics.get(section) or {}).get(key) if section else metrics.get(key)
            values.append(num(value))
        if all(v == "—" for v in values):
            continue
        definition = METRIC_DEFINITIONS.get(def_key, "")
        rows.append([label.replace("@k", f"@{k}"), *values, definition])
    return {
        "k": k,
        "threshold": threshold,
        "holdout": s.get("holdout") or {},
        "coverage": test.get("coverage") or {},
        "verdict": "; ".join(str(v) for v in s.get("ranking_verdict") or []),
        "table": table(
            headers,
            rows,
            caption=f"Hold-out test metrics (relevant: rating ≥ {threshold}, k = {k})",
            numeric=[False] + [True] * len(columns) + [False],
            cell_classes=["nowrap"] + [""] * len(columns) + ["def"],
        ),
    }


# --------------------------------------------------------------------------- recommendations


def _choice_table(info: Mapping[str, Any]) -> Table | None:
    scores = info.get("validation_ndcg") or {}
    if not scores:
        return None
    rows = [
        (
            Cell(str(n), strong=True, after=" (chosen)")
            if n == info.get("recommender")
            else Cell(str(n)),
            num(v),
        )
        for n, v in sorted(scores.items(), key=lambda kv: -float(kv[1]))
    ]
    return table(
        ["Candidate", "Validation NDCG"],
        rows,
        caption="Recommender candidates: catalogue NDCG@k on a validation split of "
        "the development data (the test set is not used for the choice)",
        numeric=[False, True],
    )


def _test_check(info: Mapping[str, Any]) -> dict[str, Any] | None:
    test = info.get("test") or {}
    if not test:
        return None
    gain = test.get("ndcg_vs_most_popular")
    return {
        "recommender": test.get("recommender"),
        "ours": test.get("catalogue_top_k") or {},
        "popular": test.get("most_popular") or {},
        "verdict": "does not beat most-popular"
        if gain is None or gain <= 0
        else f"beats most-popular by {pct(gain)}",
    }


_LIST_COLUMNS = ["rank", ITEM, TITLE, GENRES, SCORE]
_LIKED_COLUMNS = [ITEM, TITLE, GENRES, RATING]


def _written(path: Path) -> bool:
    """``path`` is in the run folder: a file or a folder of part files, or (while a run is
    published to a Hadoop filesystem) written by Spark's executors straight to the remote
    output that this local staging folder stands for."""
    from movierec.hadoopfs import is_remote, spark_uri

    return path.exists() or is_remote(spark_uri(path))


def recommendations_view(run_dir: Path, s: Mapping[str, Any]) -> dict[str, Any]:
    """Three sample users' lists beside what they rated highest, and why this recommender.

    The users come from the summary's ``recommendations.sample`` (a few rows the run
    collected, whatever the size of the data); a summary without one (older runs) has them
    read from the lists and the model's training ratings. ``problem`` is set (and nothing
    else) when the lists cannot be shown.
    """
    if not _written(run_dir / "recommendations.parquet"):
        return {"problem": "missing"}
    info = s.get("recommendations") or {}
    sample = info.get("sample")
    if not isinstance(sample, list):
        return _view_from_files(run_dir, info)
    if not sample:
        return {"problem": "empty"}
    shown = [
        (
            str(entry.get("label", "")),
            entry.get("user"),
            pd.DataFrame(entry.get("recommendations") or [], columns=_LIST_COLUMNS),
            pd.DataFrame(entry.get("top_rated") or [], columns=_LIKED_COLUMNS),
        )
        for entry in sample
        if isinstance(entry, dict)
    ]
    return _view(info, shown, info.get("users"))


def _view_from_files(run_dir: Path, info: Mapping[str, Any]) -> dict[str, Any]:
    """The sample of a run folder whose summary carries none: from the lists and the
    model's training ratings (files, or folders of part files), read whole."""
    from movierec.errors import MovierecError
    from movierec.lists import read_table

    try:
        recs = read_table(run_dir / "recommendations.parquet")
    except (OSError, ValueError, MovierecError) as exc:
        return {"problem": "unreadable", "error": str(exc)}
    if recs.empty:
        return {"problem": "empty"}
    model_dir = run_dir / "model"
    train = movies = user_ids = item_ids = None
    try:
        train = read_table(model_dir / "train_ratings.parquet")
        if (model_dir / "movies.parquet").is_file():
            movies = pd.read_parquet(model_dir / "movies.parquet")
        user_ids = _load_ids(model_dir / "user_ids.npy")
        item_ids = _load_ids(model_dir / "item_ids.npy")
    except (OSError, ValueError, MovierecError):
        train = None
    picks = _pick_users(recs, train, user_ids)
    liked = None
    if train is not None:
        dense = np.asarray([d for _, d, _ in picks if d is not None], dtype=np.int64)
        liked = top_rated(train, dense, LIST_LENGTH, movies, user_ids, item_ids)
        liked["_key"] = liked[USER].astype(str)
    keys = recs[USER].astype(str)
    shown = []
    for label, _, original in picks:
        mine = recs[keys == str(original)]
        theirs = liked[liked["_key"] == str(original)] if liked is not None else None
        shown.append((label, original, mine, theirs))
    return _view(info, shown, info.get("users", recs[USER].nunique()))


def _view(
    info: Mapping[str, Any],
    shown: Sequence[tuple[str, Any, pd.DataFrame, pd.DataFrame | None]],
    users_count: Any,
) -> dict[str, Any]:
    """The section's view model from (label, original user id, list, highest rated or
    None) per sampled user."""
    name = str(info.get("recommender", "rating-model"))
    users = []
    for label, original, mine, rated in shown:
        mine = mine.sort_values("rank", kind="stable").head(LIST_LENGTH)
        theirs = None
        if rated is not None:
            theirs = table(
                ["Title", "Genres", "Rating"],
                [(_title(r), _genres(r), num(r[RATING], 1)) for _, r in rated.iterrows()],
                caption=f"Rated highest by user {original}",
                numeric=[False, False, True],
                row_header=False,
            )
        users.append(
            {
                "id": original,
                "label": label,
                "recommended": table(
                    ["#", "Title", "Genres", "Score"],
                    [
                        (integer(r["rank"]), _title(r), _genres(r), num(r[SCORE], 2))
                        for _, r in mine.iterrows()
                    ],
                    caption=f"Recommended for user {original}",
                    numeric=[True, False, False, True],
                ),
                "liked": theirs,
            }
        )
    return {
        "problem": None,
        "n": info.get("n", LIST_LENGTH),
        "users_count": users_count,
        "name": name,
        "score_text": {
            "implicit-als": "score is implicit ALS's preference (higher = more likely to be "
            "liked; not a rating)",
            "most-popular": "score is the movie's number of ratings",
        }.get(name, "score is the predicted rating in stars (unclipped)"),
        "why": info.get("why"),
        "choice": _choice_table(info),
        "check": _test_check(info),
        "users": users,
    }


def _title(r: pd.Series) -> str:
    title = r.get(TITLE)
    if title is None or (isinstance(title, float) and np.isnan(title)) or title == "":
        return f"movie {r[ITEM]}"
    return str(title)


def _genres(r: pd.Series) -> str:
    genres = r.get(GENRES)
    if not isinstance(genres, str) or not genres:
        return "—"
    return genres.replace("|", ", ")


def _load_ids(file: Path) -> np.ndarray | None:
    return np.load(file, allow_pickle=False) if file.is_file() else None


def _pick_users(
    recs: pd.DataFrame, train: pd.DataFrame | None, user_ids: np.ndarray | None
) -> list[tuple[str, int | None, Any]]:
    """Up to three users, deterministically: fewest ratings, median, most (ties: lowest id).

    Returns (description, dense id or None, original id) for each. Without the training
    ratings, the first, middle and last user by id are taken.
    """
    rec_users = set(recs[USER].astype(str))
    if train is not None and len(train):
        counts = train.groupby(USER).size().rename("n").reset_index()
        originals = (
            np.asarray(user_ids)[counts[USER].to_numpy()]
            if user_ids is not None
            else counts[USER].to_numpy()
        )
        counts["original"] = originals
        counts = counts[counts["original"].astype(str).isin(rec_users)]
        counts = counts.sort_values(["n", USER], kind="stable").reset_index(drop=True)
        if len(counts):
            last = len(counts) - 1
            positions = [(0, "fewest ratings"), (last // 2, "median"), (last, "most ratings")]
            out: list[tuple[str, int | None, Any]] = []
            for pos, what in positions:
                row = counts.iloc[pos]
                if any(d == int(row[USER]) for _, d, _ in out):
                    continue
                label = f"{what}: {int(row['n']):,} rated"
                out.append((label, int(row[USER]), _py(row["original"])))
            return out[:SAMPLE_USERS]
    users = sorted(dict.fromkeys(recs[USER].tolist()), key=lambda u: (str(type(u)), u))
    last = len(users) - 1
    chosen = list(dict.fromkeys([users[0], users[last // 2], users[last]]))
    return [("by id", None, _py(u)) for u in chosen]


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- timings, config


def timings_view(s: Mapping[str, Any]) -> Table | None:
    """Seconds and share of the total per stage; None without timings."""
    timings = s.get("timings") or {}
    if not timings:
        return None
    total = timings.get("total") or sum(v for k, v in timings.items() if k != "total") or 0
    rows: list[list[str | Cell]] = []
    for stage, seconds in timings.items():
        share = float(seconds) / float(total) if total else None
        is_total = stage == "total"
        rows.append(
            [Cell(str(stage), strong=is_total), num(seconds, 1), "" if is_total else pct(share, 0)]
        )
    return table(
        ["Stage", "Seconds", "Share of total"],
        rows,
        caption="Wall-clock time per stage",
        numeric=[False, True, True],
    )


def reproduce_view(s: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration as JSON text and the versions table."""
    config = s.get("config")
    versions = s.get("versions") or {}
    return {
        "has_config": config is not None,
        "seed": config.get("seed") if isinstance(config, dict) else None,
        "config_text": pretty_json(config) if config is not None else "",
        "versions": table(
            ["Component", "Version"],
            [(str(k), Cell(str(v), code=True)) for k, v in versions.items()],
            caption="Versions used by this run",
        )
        if versions
        else None,
    }


def pretty_json(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line, but lists of plain values on one line (shorter to read)."""
    pad = "  " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {pretty_json(v, indent + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [pad + pretty_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
