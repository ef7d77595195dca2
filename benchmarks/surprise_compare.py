"""movierec's ALS models vs scikit-surprise on the identical 5 folds of ml-latest-small.

Not a test: nothing here is asserted. Three stages, each a separate invocation, because
Surprise lives in its own virtual environment (it is not a movierec dependency):

    # 1. write the folds (movierec's k-fold by rating, seed 42) as tab-separated files
    .venv/bin/python benchmarks/surprise_compare.py folds --out /tmp/surprise-folds
    # 2. Surprise's SVD, SVD++ and BaselineOnly (default parameters) on those files
    python3 -m venv /tmp/surprise-venv && /tmp/surprise-venv/bin/pip install scikit-surprise
    /tmp/surprise-venv/bin/python benchmarks/surprise_compare.py surprise \
        --folds /tmp/surprise-folds
    # 3. movierec (local engine) on the same files, then the write-up
    .venv/bin/python benchmarks/surprise_compare.py movierec --part tuned
    .venv/bin/python benchmarks/surprise_compare.py movierec --part defaults
    .venv/bin/python benchmarks/surprise_compare.py report   # --folds: /tmp/surprise-folds

Every model predicts every row of each test file; the predictions are saved as
``<folds>/pred/<model>/u<k>.npy`` (test-file order), and the report scores them all on the
same rows: the rows whose user and movie are in that fold's training file ("known", what
ALS can score) and, for Surprise, also every row (Surprise falls back to its baseline for
unknown ids). Surprise clips its predictions to the rating scale (0.5-5), and so does
movierec by default.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results"
DATA = Path(os.environ.get("MOVIEREC_DATA_DIR", REPO.parent / "shared" / "datasets"))
FOLDS = 5
SEED = 42
SCALE = (0.5, 5.0)
# One grid for both tuned models: wider than `movierec tune`'s default (8-12 x 0.05-0.15 x
# 10-15), which stops below the ranks and iterations that win here (see biased_defaults.md).
GRID_RANKS = [10, 20, 40]
GRID_REGS = [0.1, 0.15, 0.2]
GRID_ITERS = [15, 25]


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def fold_files(folder: Path) -> list[tuple[Path, Path]]:
    return [(folder / f"u{k}.base", folder / f"u{k}.test") for k in range(1, FOLDS + 1)]


def read_fold(path: Path) -> np.ndarray:
    """(user, movie, rating) rows of one fold file, as float64 columns."""
    return np.loadtxt(path, delimiter="\t", usecols=(0, 1, 2), dtype=np.float64, ndmin=2)


# --------------------------------------------------------------------------- stage 1: folds


def write_folds(out: Path) -> None:
    from movierec.config import DataConfig
    from movierec.data import load_ratings
    from movierec.split import kfold

    loaded = load_ratings(DataConfig(path=DATA / "ml-latest-small"))
    if loaded.user_ids is not None or loaded.item_ids is not None:
        raise SystemExit("expected ml-latest-small's integer ids to be kept as they are")
    out.mkdir(parents=True, exist_ok=True)
    cols = ["user_id", "movie_id", "rating", "timestamp"]
    for k, (train, test) in enumerate(kfold(loaded.ratings, FOLDS, SEED), start=1):
        for frame, name in ((train, f"u{k}.base"), (test, f"u{k}.test")):
            frame[cols].to_csv(out / name, sep="\t", header=False, index=False)
        print(f"fold {k}: {len(train)} train / {len(test)} test", flush=True)


# --------------------------------------------------------------------------- stage 2: Surprise


def run_surprise(folder: Path, only: list[str] | None) -> None:
    import surprise
    from surprise import SVD, BaselineOnly, Dataset, Reader, SVDpp
    from surprise.model_selection import PredefinedKFold

    reader = Reader(line_format="user item rating timestamp", sep="\t", rating_scale=SCALE)
    data = Dataset.load_from_folds([(str(a), str(b)) for a, b in fold_files(folder)], reader)
    algos: dict[str, Any] = {
        "surprise-baselineonly": lambda: BaselineOnly(verbose=False),
        "surprise-svd": lambda: SVD(random_state=SEED),
        "surprise-svdpp": lambda: SVDpp(random_state=SEED, cache_ratings=True),
    }
    meta: dict[str, Any] = {"surprise": surprise.__version__, "numpy": np.__version__}
    timings: dict[str, list[float]] = {}
    for name, make in algos.items():
        if only and name not in only:
            continue
        (folder / "pred" / name).mkdir(parents=True, exist_ok=True)
        timings[name] = []
        for k, (trainset, testset) in enumerate(PredefinedKFold().split(data), start=1):
            algo = make()
            started = time.perf_counter()
            algo.fit(trainset)
            pred = algo.test(testset)
            seconds = time.perf_counter() - started
            est = np.array([p.est for p in pred], dtype=np.float64)
            np.save(folder / "pred" / name / f"u{k}.npy", est)
            timings[name].append(round(seconds, 2))
            print(f"{name} fold {k}: {seconds:.1f} s", flush=True)
    meta["seconds"] = timings
    meta["loadavg_end"] = loadavg()
    target = folder / "pred" / "surprise_meta.json"
    old = json.loads(target.read_text()) if target.is_file() else {}
    old.update({k: v for k, v in meta.items() if k != "seconds"})
    old.setdefault("seconds", {}).update(timings)
    target.write_text(json.dumps(old, indent=2) + "\n")


# --------------------------------------------------------------------------- stage 3: movierec


def _load_folds(folder: Path) -> list[tuple[Any, Any]]:
    from movierec.protocol import load_fold_pairs

    return load_fold_pairs([(a, b) for a, b in fold_files(folder)], fmt="delimited")


def run_movierec(folder: Path, part: str) -> None:
    """``defaults``: biased-als with its defaults; ``tuned``: biased-als and als tuned on
    the grid by an inner CV on each training file."""
    from dataclasses import replace

    from movierec.config import ALSConfig, TuningConfig
    from movierec.engines import ALSParams, get_engine
    from movierec.engines.clipping import fit_clipped
    from movierec.tuning import grid_search

    engine = get_engine("local")
    folds = _load_folds(folder)
    defaults = ALSConfig(model="biased-als")
    base = ALSParams.from_config(defaults, SEED)
    meta_file = folder / "pred" / "movierec_meta.json"
    info: dict[str, Any] = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    info.setdefault("tuned", {})
    info.setdefault("seconds", {})
    grid = {"ranks": GRID_RANKS, "reg_params": GRID_REGS, "max_iters": GRID_ITERS}

    def predict(name: str, params_per_fold: list[ALSParams]) -> None:
        (folder / "pred" / name).mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for k, ((train, test), params) in enumerate(zip(folds, params_per_fold), start=1):
            handle = engine.data(train)
            model = fit_clipped(engine, handle, params)
            np.save(folder / "pred" / name / f"u{k}.npy", model.predict(test))
            model.release()
            handle.release()
        info["seconds"][name] = round(time.perf_counter() - started, 2)
        print(f"{name}: {info['seconds'][name]} s", flush=True)

    if part == "defaults":
        info["defaults"] = base.to_dict()
        predict("movierec-biased-als-defaults", [base] * FOLDS)
        meta_file.write_text(json.dumps(info, indent=2) + "\n")
        return
    # Tuned: an inner 3-fold grid search on each outer training file (the test file is never
    # seen), best configuration refitted on the whole training file.
    for model in ("biased-als", "als"):
        chosen = []
        started = time.perf_counter()
        for k, (train, _) in enumerate(folds, start=1):
            cfg = TuningConfig(models=[model], folds=3, parallelism=1, **grid)
            # Inner folds from another seed: with the outer seed they would be slices of
            # the same hash keys as the outer folds, and so of unequal sizes.
            result = grid_search(engine, train, cfg, replace(base, model=model), SEED + 1)
            chosen.append(result.best_params(replace(base, model=model)))
            info["tuned"].setdefault(model, [])
            info["tuned"][model] = [*info["tuned"][model][: k - 1], result.best]
            print(f"tuned {model} fold {k}: {result.best}", flush=True)
        info["seconds"][f"tune-{model}"] = round(time.perf_counter() - started, 2)
        predict(f"movierec-{model}-tuned", chosen)
    info["grid"] = grid
    meta_file.write_text(json.dumps(info, indent=2) + "\n")


# --------------------------------------------------------------------------- stage 4: report


def _errors(actual: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    d = pred - actual
    return float(np.sqrt(np.mean(d * d))), float(np.mean(np.abs(d)))


def report(folder: Path, out: Path) -> None:
    from movierec.pipeline import versions

    names = sorted(p.name for p in (folder / "pred").iterdir() if p.is_dir())
    rows: dict[str, Any] = {}
    fold_rows = []
    for k, (base_file, test_file) in enumerate(fold_files(folder), start=1):
        train, test = read_fold(base_file), read_fold(test_file)
        known = np.isin(test[:, 0], train[:, 0]) & np.isin(test[:, 1], train[:, 1])
        fold_rows.append(
            {"fold": k, "train": len(train), "test": len(test), "known": int(known.sum())}
        )
        for name in names:
            pred = np.load(folder / "pred" / name / f"u{k}.npy")
            if np.isnan(pred[known]).any():
                raise SystemExit(f"{name} fold {k}: NaN prediction for a known pair")
            r = rows.setdefault(name, {"known_rmse": [], "known_mae": [], "all_rmse": []})
            rmse, mae = _errors(test[known, 2], pred[known])
            r["known_rmse"].append(rmse)
            r["known_mae"].append(mae)
            if not np.isnan(pred).any():
                r["all_rmse"].append(_errors(test[:, 2], pred)[0])
    for r in rows.values():
        for key in list(r):
            if r[key]:
                r[key + "_mean"] = float(np.mean(r[key]))
                r[key + "_std"] = float(np.std(r[key], ddof=0))
    smeta_file = folder / "pred" / "surprise_meta.json"
    mmeta_file = folder / "pred" / "movierec_meta.json"
    smeta = json.loads(smeta_file.read_text()) if smeta_file.is_file() else {}
    mmeta = json.loads(mmeta_file.read_text()) if mmeta_file.is_file() else {}
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "loadavg": loadavg(),
        "versions": {**versions(), "surprise": smeta.get("surprise"), "python_cmd": sys.version},
        "protocol": f"ml-latest-small, {FOLDS}-fold CV by rating (split.kfold, seed {SEED})",
        "folds": fold_rows,
        "models": rows,
        "surprise_seconds": smeta.get("seconds", {}),
        "movierec": mmeta,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "surprise.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "surprise.md").write_text(_markdown(result) + "\n")
    print(_markdown(result))


def _markdown(res: dict[str, Any]) -> str:
    v = res["versions"]
    lines = [
        "## movierec vs Surprise on identical folds (ml-latest-small, 5-fold CV by rating)",
        "",
        f"{res['date']} · {res['machine']['cpus']} cores, {res['machine']['platform']}  ",
        f"movierec {v['movierec']}, numpy {v['numpy']}, scikit-surprise {v.get('surprise')} "
        f"(own venv); load average at the end: {' '.join(map(str, res['loadavg']))} "
        "(other jobs were running on this machine, so the seconds are noisy)",
        "",
        "Folds: `movierec.split.kfold(ratings, 5, seed=42)` written as tab-separated files and "
        "read by both libraries. Scores over the test rows whose user and movie are in the "
        "fold's training file (what ALS can predict); `all rows` also counts the cold-start "
        "rows, which Surprise predicts from its fallback. Predictions are clipped to 0.5–5.",
        "",
        "| model | RMSE mean ± std (known rows) | MAE mean ± std | RMSE, all rows "
        "| per-fold RMSE |",
        "|---|---|---|---|---|",
    ]
    order = sorted(res["models"].items(), key=lambda kv: kv[1]["known_rmse_mean"])
    for name, r in order:
        all_rows = f"{r['all_rmse_mean']:.4f}" if "all_rmse_mean" in r else "n/a (NaN cold)"
        per_fold = ", ".join(f"{x:.4f}" for x in r["known_rmse"])
        lines.append(
            f"| {name} | {r['known_rmse_mean']:.4f} ± {r['known_rmse_std']:.4f} | "
            f"{r['known_mae_mean']:.4f} ± {r['known_mae_std']:.4f} | {all_rows} | {per_fold} |"
        )
    lines += [
        "",
        "Fold sizes: "
        + "; ".join(
            f"u{f['fold']}: {f['train']} train, {f['test']} test ({f['known']} known)"
            for f in res["folds"]
        ),
    ]
    m = res.get("movierec") or {}
    if m:
        d = m["defaults"]
        lines += [
            "",
            f"biased-als defaults: rank {d['rank']}, regParam {d['reg_param']}, maxIter "
            f"{d['max_iter']}, bias_reg {d['bias_reg']}. Tuned = inner 3-fold grid search on each "
            f"training file only (grid {m.get('grid')}), best refitted on that file; chosen per "
            "fold: "
            + "; ".join(
                f"{model}: "
                + ", ".join(f"r{b['rank']}/λ{b['regParam']}/it{b['maxIter']}" for b in bests)
                for model, bests in m["tuned"].items()
            ),
            "",
            "Seconds (whole 5 folds, incl. tuning where named): "
            + ", ".join(f"{k} {s}" for k, s in m["seconds"].items()),
        ]
    if res["surprise_seconds"]:
        lines += [
            "Surprise seconds per fold (fit + test): "
            + "; ".join(f"{k}: {v}" for k, v in res["surprise_seconds"].items())
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=["folds", "surprise", "movierec", "report"])
    parser.add_argument("--folds", type=Path, default=Path("/tmp/surprise-folds"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", default=None, help="surprise: comma-separated model names")
    parser.add_argument("--part", choices=["defaults", "tuned"], default="defaults")
    args = parser.parse_args()
    if args.stage == "folds":
        write_folds(args.out or args.folds)
    elif args.stage == "surprise":
        run_surprise(args.folds, args.only.split(",") if args.only else None)
    elif args.stage == "movierec":
        run_movierec(args.folds, args.part)
    else:
        report(args.folds, args.out or DEFAULT_OUT)


if __name__ == "__main__":
    main()
