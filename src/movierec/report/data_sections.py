"""View models of the report's data and exploration sections (from ``summary.json`` and
``rejects.csv``); the prose and markup are in ``templates/data.html.j2`` and ``eda.html.j2``."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from movierec.report.format import count, integer, num, pct, plain
from movierec.report.view import Cell, Plots, Table, table

REJECTS_SHOWN = 20
"""How many rows of ``rejects.csv`` the page quotes."""


def data_view(run_dir: Path, s: Mapping[str, Any]) -> dict[str, Any] | None:
    """The data overview table and what is known about rejected rows; None without data."""
    data = s.get("data")
    if not data:
        return None
    load = data.get("load") or {}
    eda = data.get("eda") or {}
    scale = (
        f"{plain(load['rating_min'])} – {plain(load['rating_max'])}"
        if load.get("rating_min") is not None
        else "—"
    )
    rows: list[tuple[str, str | Cell]] = [
        ("Ratings file", Cell(str(load.get("path", "—")), code=True)),
        ("Format", str(load.get("format", "—"))),
        ("Rows read", integer(load.get("rows_read"))),
        ("Ratings kept", integer(data.get("ratings"))),
        ("Rows rejected", integer(data.get("rejected"))),
        ("Duplicate (user, movie) pairs", integer(load.get("duplicates"))),
        ("Users", integer(data.get("users"))),
        ("Movies", integer(data.get("items"))),
        ("Sparsity (1 − ratings / (users × movies))", num(data.get("sparsity"))),
        ("Rating scale (stars)", scale),
        (
            "Mean rating ± std (stars)",
            f"{num(eda.get('rating_mean'), 3)} ± {num(eda.get('rating_std'), 3)}",
        ),
        ("Timestamps present", "yes" if load.get("has_timestamp") else "no"),
        ("Ids remapped to dense integers", "yes" if load.get("ids_mapped") else "no"),
    ]
    overview = table(["Quantity", "Value"], rows, caption="Data overview", numeric=[False, True])
    return {"overview": overview, "rejects": _rejects(run_dir, data, load)}


def _rejects(run_dir: Path, data: Mapping[str, Any], load: Mapping[str, Any]) -> dict[str, Any]:
    by_reason = load.get("rejected") or {}
    total = int(data.get("rejected") or sum(by_reason.values()) or 0)
    out: dict[str, Any] = {"total": total, "reasons": None, "head": None, "file": False}
    if not total:
        return out
    if by_reason:
        items = sorted(by_reason.items(), key=lambda kv: (-int(kv[1]), kv[0]))
        out["reasons"] = table(
            ["Reason", "Rows"],
            [(Cell(str(k), code=True), integer(v)) for k, v in items],
            caption="Rejected rows by reason",
            numeric=[False, True],
        )
    file = run_dir / "rejects.csv"
    out["file"] = file.is_file()
    if not out["file"]:
        return out
    header, rows = _head_csv(file, REJECTS_SHOWN)
    if header:
        shown = min(len(rows), REJECTS_SHOWN)
        out["head"] = table(
            header,
            rows,
            caption=f"The first {shown} rows of rejects.csv"
            + (f" (of {integer(total)})" if total > shown else ""),
            numeric=[h == "line" for h in header],
            row_header=False,
            cell_classes=["raw" if h == "raw" else "" for h in header],
        )
    return out


def _head_csv(file: Path, n: int) -> tuple[list[str], list[list[str]]]:
    """The header and at most ``n`` rows of a CSV file, read lazily (the file may be large)."""
    try:
        with open(file, encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            rows = []
            for row in reader:
                rows.append((row + [""] * len(header))[: max(len(header), len(row))])
                if len(rows) >= n:
                    break
    except OSError:
        return [], []
    return header, rows


# --------------------------------------------------------------------------- exploration


def eda_view(s: Mapping[str, Any], plots: Plots) -> dict[str, Any]:
    """Long-tail sentences and table, and the three EDA plots."""
    eda = (s.get("data") or {}).get("eda") or {}
    users = eda.get("user_activity") or {}
    items = eda.get("item_popularity") or {}
    dist = eda.get("rating_distribution") or []
    dist_alt = "Bar chart of how many ratings have each star value"
    if dist:
        top = max(dist, key=lambda r: r.get("count", 0))
        dist_alt += (
            f"; the most common value is {plain(top.get('rating'))} stars "
            f"({pct(top.get('share'))} of ratings)"
        )
    cold = items.get("cold_items") or {}
    return {
        "has_tail": bool(users or items),
        "u20": _share(users, 0.2),
        "i20": _share(items, 0.2),
        "user_stats": users,
        "item_stats": items,
        "cold": cold if cold.get("share") is not None else None,
        "tail": _long_tail_table(users, items) if users or items else None,
        "distribution": plots.get(
            "rating_distribution", dist_alt + ".", "How often each star value is given."
        ),
        "activity": plots.get(
            "user_activity",
            "Two panels: ratings per user by user rank on a log scale, and the cumulative "
            "share of ratings against the share of users, most active first"
            + _gini_alt(users)
            + ".",
            "User activity: a few users rate far more than the rest.",
        ),
        "popularity": plots.get(
            "item_popularity",
            "Two panels: ratings per movie by popularity rank on a log scale, and the "
            "cumulative share of ratings against the share of movies, most rated first"
            + _gini_alt(items)
            + ".",
            "Movie popularity: the long tail of rarely rated movies.",
        ),
    }


def _gini_alt(stats: Mapping[str, Any]) -> str:
    if stats.get("gini") is None:
        return ""
    return f"; Gini coefficient {num(stats['gini'], 2)}"


def _share(stats: Mapping[str, Any], fraction: float) -> Any:
    for r in stats.get("top_shares") or []:
        if abs(float(r.get("top_fraction", -1)) - fraction) < 1e-9:
            return r.get("ratings_share")
    return None


def _coverage(stats: Mapping[str, Any], share: float) -> Mapping[str, Any]:
    for r in stats.get("coverage") or []:
        if abs(float(r.get("ratings_share", -1)) - share) < 1e-9:
            return dict(r)
    return {}


def _long_tail_table(users: Mapping[str, Any], items: Mapping[str, Any]) -> Table:
    rows: list[tuple[str, str, str]] = []
    for key, label in (
        ("min", "fewest ratings"),
        ("median", "median ratings"),
        ("mean", "mean ratings"),
        ("p90", "90th percentile of ratings"),
        ("p99", "99th percentile of ratings"),
        ("max", "most ratings"),
    ):
        rows.append((f"{label} per user / movie", count(users.get(key)), count(items.get(key))))
    for fraction in (0.01, 0.05, 0.1, 0.2):
        u, i = _share(users, fraction), _share(items, fraction)
        if u is not None or i is not None:
            rows.append((f"share of ratings from the top {fraction:.0%}", pct(u), pct(i)))
    for share in (0.5, 0.8):
        uc, ic = _coverage(users, share), _coverage(items, share)
        if uc or ic:
            rows.append(
                (
                    f"share of users / movies that cover {share:.0%} of ratings",
                    pct(uc.get("fraction")),
                    pct(ic.get("fraction")),
                )
            )
    rows.append(
        (
            "Gini coefficient (0 = even, 1 = all on one)",
            num(users.get("gini"), 3),
            num(items.get("gini"), 3),
        )
    )
    light = users.get("light_users") or {}
    cold = items.get("cold_items") or {}
    rows.append(
        (
            "light users / cold movies (fewer than the threshold)",
            f"{integer(light.get('count'))} (< {integer(light.get('threshold'))})",
            f"{integer(cold.get('count'))} (< {integer(cold.get('threshold'))})",
        )
    )
    return table(
        ["Statistic", "Users", "Movies"],
        rows,
        caption="Long tail: how ratings spread over users and movies",
        numeric=[False, True, True],
    )
