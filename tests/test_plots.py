"""Tests for movierec.plots: every chart is a valid PNG, written atomically."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from movierec import plots
from movierec.errors import DataError, MovierecError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, *, min_height: int = 300) -> None:
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000  # a real chart, not a blank canvas
    image = imread(path)
    height, width = image.shape[:2]
    assert width == pytest.approx(plots.WIDTH_IN * plots.DPI, abs=2)  # 880 px
    assert height >= min_height
    assert float(np.std(image[..., :3])) > 0.05  # not a single flat colour


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


@pytest.fixture(scope="module")
def user_counts() -> pd.Series:
    rng = np.random.default_rng(3)
    return pd.Series(20 + (rng.pareto(1.5, 300) * 30).astype(int))


@pytest.fixture(scope="module")
def item_counts() -> pd.Series:
    rng = np.random.default_rng(4)
    return pd.Series(1 + (rng.pareto(1.0, 5000) * 3).astype(int))


RATING_COUNTS = pd.Series(
    [1370, 2811, 1791, 7551, 5550, 20047, 13136, 26818, 8551, 13211],
    index=np.arange(0.5, 5.01, 0.5),
)


def tuning_results() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for max_iter in (5, 10, 20):
        for rank in (4, 8, 16):
            for reg in (0.01, 0.1, 1.0):
                mean = 0.85 + abs(np.log10(reg) + 1) * 0.05 + rank / 1000 - max_iter / 1000
                rows.append(
                    {
                        "rank": rank,
                        "regParam": reg,
                        "maxIter": max_iter,
                        "rmse_mean": mean,
                        "rmse_std": 0.01,
                    }
                )
    return rows


def test_rating_distribution(tmp_path: Path) -> None:
    out = plots.plot_rating_distribution(RATING_COUNTS, tmp_path / "ratings.png")
    assert out == tmp_path / "ratings.png"
    assert_png(out)
    assert no_temp_files(tmp_path)


def test_user_activity(tmp_path: Path, user_counts: pd.Series) -> None:
    out = plots.plot_user_activity(user_counts, str(tmp_path / "users.png"))
    assert isinstance(out, Path)
    assert_png(out)
    assert no_temp_files(tmp_path)


def test_item_popularity_creates_folder(tmp_path: Path, item_counts: pd.Series) -> None:
    out = plots.plot_item_popularity(item_counts, tmp_path / "sub" / "items.png")
    assert_png(out)
    assert no_temp_files(out.parent)


def test_concentration_tiny_inputs(tmp_path: Path) -> None:
    # one user, and all-equal counts: degenerate curves must still render
    assert_png(plots.plot_user_activity(pd.Series([42]), tmp_path / "one.png"), min_height=200)
    assert_png(plots.plot_item_popularity(pd.Series([3, 3, 3]), tmp_path / "flat.png"))


def test_split_comparison(tmp_path: Path) -> None:
    rows = [
        {"train_fraction": 0.8, "rmse": 0.889, "test_ratings": 20000},
        {"train_fraction": 0.6, "rmse": 0.912, "test_ratings": 40000},
        {"train_fraction": 0.7, "rmse": 0.897},  # test_ratings optional
    ]
    assert_png(plots.plot_split_comparison(rows, tmp_path / "split.png"))
    # a single row (zero spread) still renders
    assert_png(plots.plot_split_comparison(rows[:1], tmp_path / "split1.png"))
    assert no_temp_files(tmp_path)


def test_tuning_heatmap_single(tmp_path: Path) -> None:
    results = tuning_results()
    best = min(results, key=lambda r: r["rmse_mean"])
    assert_png(plots.plot_tuning_heatmap(results, 20, tmp_path / "h20.png", best=best))
    # best lies on another maxIter grid; and no best at all
    assert_png(plots.plot_tuning_heatmap(results, 5, tmp_path / "h5.png", best=best))
    assert_png(plots.plot_tuning_heatmap(results, 10, tmp_path / "h10.png"))
    assert no_temp_files(tmp_path)


def test_tuning_heatmap_missing_cells_and_std(tmp_path: Path) -> None:
    results: list[dict[str, Any]] = [
        {"rank": 4, "regParam": 0.1, "maxIter": 5, "rmse_mean": 0.9},
        {"rank": 8, "regParam": 0.01, "maxIter": 5, "rmse_mean": 0.95, "rmse_std": None},
    ]
    assert_png(plots.plot_tuning_heatmap(results, 5, tmp_path / "sparse.png"))


def test_tuning_heatmaps_one_file_per_max_iter(tmp_path: Path) -> None:
    results = tuning_results()
    best = min(results, key=lambda r: r["rmse_mean"])
    out = plots.plot_tuning_heatmaps(results, tmp_path / "tuning", best=best)
    assert [p.name for p in out] == [
        "tuning_heatmap_maxiter5.png",
        "tuning_heatmap_maxiter10.png",
        "tuning_heatmap_maxiter20.png",
    ]
    for path in out:
        assert_png(path)
    assert sorted(p.name for p in (tmp_path / "tuning").iterdir()) == sorted(p.name for p in out)


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    target = tmp_path / "ratings.png"
    target.write_bytes(b"old")
    plots.plot_rating_distribution(RATING_COUNTS, target)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["ratings.png"]


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(plots.os, "replace", boom)
    with pytest.raises(MovierecError, match="disk full"):
        plots.plot_rating_distribution(RATING_COUNTS, tmp_path / "ratings.png")
    assert list(tmp_path.iterdir()) == []


def test_thread_safe(tmp_path: Path, user_counts: pd.Series) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            plots.plot_user_activity(user_counts, tmp_path / f"u{i}.png")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(3):
        assert_png(tmp_path / f"u{i}.png")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: plots.plot_rating_distribution(pd.Series([], dtype="int64"), p), "empty"),
        (lambda p: plots.plot_user_activity(pd.Series([], dtype="int64"), p), "empty"),
        (lambda p: plots.plot_item_popularity(pd.Series([0, 0]), p), "positive"),
        (lambda p: plots.plot_split_comparison([], p), "empty"),
        (lambda p: plots.plot_split_comparison([{"rmse": 0.9}], p), "train_fraction"),
        (lambda p: plots.plot_tuning_heatmap([], 10, p), "empty"),
        (lambda p: plots.plot_tuning_heatmap(tuning_results(), 99, p), "maxIter=99"),
        (lambda p: plots.plot_tuning_heatmaps([], p.parent), "empty"),
        (
            lambda p: plots.plot_tuning_heatmap([{"rank": 4, "regParam": 0.1, "maxIter": 5}], 5, p),
            "rmse_mean",
        ),
    ],
)
def test_bad_input_raises(tmp_path: Path, call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=match) as info:
        call(tmp_path / "x.png")
    assert isinstance(info.value, MovierecError)
    assert list(tmp_path.iterdir()) == []
