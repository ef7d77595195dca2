"""``movierec.run`` from a pandas DataFrame: the whole brief, a typed result carrying the
summary, the lists and a usable model, and the file reader's reject accounting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import movierec

pytestmark = pytest.mark.slow


def test_run_from_a_dataframe_returns_summary_lists_and_model(
    ml_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ratings = pd.read_csv(ml_small / "ratings.csv")
    ratings = ratings[ratings.userId <= 80].rename(columns={"userId": "who"})
    bad = pd.DataFrame({"who": [1], "movieId": [1], "rating": [9.5], "timestamp": [0]})
    data = pd.concat([ratings, bad], ignore_index=True)
    result = movierec.run(
        data,
        tmp_path / "out",
        engine="local",
        movies=pd.read_csv(ml_small / "movies.csv"),
        user_col="who",
        tuning={"ranks": [4], "reg_params": [0.1], "max_iters": [3], "folds": 2},
        recommend={"recommender": "rating-model", "n": 5},
        progress=True,
    )
    # progress=True: not a notebook nor a terminal here, so one line per finished stage
    stages = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("movierec: ")]
    assert [ln.split()[1] for ln in stages][:3] == ["engine_start", "load", "eda"]
    assert any(ln.startswith("movierec: tuning done (") for ln in stages)
    assert isinstance(result, movierec.RunResult)
    assert result.summary["data"]["load"]["rejected"] == {"rating_out_of_range": 1}
    assert (tmp_path / "out" / "rejects.csv").is_file()
    assert result.summary["data"]["load"]["rows_kept"] == len(ratings)
    lists = result.recommendations
    assert set(lists.user_id) == set(ratings.who)
    assert (lists.groupby("user_id").size() == 5).all()
    again = result.model.recommend([3], n=5)
    assert list(again.movie_id) == list(lists[lists.user_id == 3].movie_id)
    table = result.test.to_frame()
    assert table.loc[table.index[0], "rmse"] == pytest.approx(result.summary["test"]["rmse"])
    assert "<table>" in result._repr_html_()
