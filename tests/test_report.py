"""The HTML report: built from a real run folder, checked against summary.json, rendered in
headless Chromium (screenshot kept in ``test-artifacts/report.png``)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import signal
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from movierec.config import build_config
from movierec.errors import MovierecError
from movierec.metrics import METRIC_DEFINITIONS
from movierec.pipeline import run
from movierec.report import build_report

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
LAPTOP = (1366, 900)

BAD_LINES = [
    "1,abc,4.0,964982703",  # bad movie id
    "2,31,five,964982703",  # non-numeric rating
    "3,1,9.5,964982703",  # out of the 0.5-5 scale
]


@pytest.fixture(scope="module")
def run_dir(ml_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run on ml-latest-small (plus three bad rows) with a small grid, local engine."""
    tmp = tmp_path_factory.mktemp("report")
    ratings = tmp / "ratings.csv"
    ratings.write_bytes((ml_small / "ratings.csv").read_bytes() + "\n".join(BAD_LINES).encode())
    cfg = build_config(
        overrides={
            "engine": "local",
            "data": {"path": str(ratings), "movies": str(ml_small / "movies.csv")},
            "tuning": {
                "models": ["als", "biased-als"],
                "ranks": [4],
                "reg_params": [0.1],
                "max_iters": [3],
                "folds": 2,
            },
            "split": {"train_fractions": [0.8]},
        }
    )
    out = tmp / "run"
    run(cfg, out)
    build_report(out)
    return out


@pytest.fixture(scope="module")
def summary(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "summary.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def page(run_dir: Path) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


class _Page(HTMLParser):
    """Images (attributes) and table rows (class, cell texts, whether inside <strong>)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.rows: list[tuple[str, list[str]]] = []
        self.header_scopes: list[str | None] = []
        self.pre: list[str] = []
        self._row: list[str] | None = None
        self._row_class = ""
        self._cell: list[str] | None = None
        self._in_pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        elif tag == "tr":
            self._row, self._row_class = [], a.get("class") or ""
        elif tag in ("td", "th"):
            self._cell = []
            if tag == "th":
                self.header_scopes.append(a.get("scope"))
        elif tag == "pre":
            self._in_pre = True
            self.pre.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append((self._row_class, self._row))
            self._row = None
        elif tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_pre:
            self.pre[-1] += data


def parse(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


def test_report_is_self_contained(run_dir: Path, page: str) -> None:
    doc = parse(page)
    plots = sorted((run_dir / "plots").glob("*.png"))
    assert len(plots) >= 6  # 3 EDA + split comparison + 2 heatmaps
    for png in plots:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        assert f'src="data:image/png;base64,{data}"' in page, f"{png.name} is not embedded"
    assert len(doc.images) == len(plots)
    for img in doc.images:
        assert (img.get("src") or "").startswith("data:image/png;base64,")
        assert len((img.get("alt") or "").strip()) > 20, "every image needs real alt text"
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert all(scope in ("col", "row") for scope in doc.header_scopes)
    assert not list(run_dir.glob(".report.html.tmp-*"))


def test_report_content_matches_summary(run_dir: Path, page: str, summary: dict[str, Any]) -> None:
    doc = parse(page)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))

    # data overview and rejected rows
    data = summary["data"]
    assert data["rejected"] == 3
    assert f"{data['ratings']:,}" in text and f"{data['items']:,}" in text
    for reason, count in data["load"]["rejected"].items():
        assert any(r[:2] == [reason, str(count)] for _, r in doc.rows), reason
    rejects = pd.read_csv(run_dir / "rejects.csv", dtype=str)
    for raw in rejects["raw"]:
        assert raw in text

    # long-tail numbers
    users = data["eda"]["user_activity"]
    share20 = next(r for r in users["top_shares"] if r["top_fraction"] == 0.2)["ratings_share"]
    assert f"{100 * share20:.1f}%" in text
    assert f"{data['eda']['item_popularity']['gini']:.3f}" in text

    # split comparison, with the bias baseline column
    for r in summary["split_comparison"]:
        row = next(cells for _, cells in doc.rows if cells[0] == "80% / 20%")
        assert f"{r['rmse']:.4f}" in row and f"{r['bias_baseline_rmse']:.4f}" in row

    # the full tuning table; the best row in bold with a star, and only that one
    tuning = summary["tuning"]
    best = tuning["best"]
    best_rows = [cells for cls, cells in doc.rows if cls == "best"]
    assert len(best_rows) == 1
    cells = best_rows[0]
    assert "★" in cells[0]
    assert best["model"] in cells[1]
    # biased-als rows carry their bias damping, so the table has a biasReg column
    has_bias = any("biasReg" in r for r in tuning["results"])
    extra = [f"{best['biasReg']:g}" if "biasReg" in best else "—"] if has_bias else []
    n = 4 + len(extra)
    assert cells[2 : 2 + n] == [
        str(best["rank"]),
        str(best["regParam"]),
        str(best["maxIter"]),
        *extra,
        f"{best['rmse_mean']:.4f} ± {best['rmse_std']:.4f}",
    ]
    assert re.search(r'<tr class="best">(?:<th[^>]*>|<td[^>]*>)<strong>', page)
    tuning_rows = [c for _, c in doc.rows if len(c) > 6 and c[0].rstrip(" ★").isdigit()]
    assert len(tuning_rows) == len(tuning["results"])
    for r, c in zip(tuning["results"], tuning_rows):
        spread = f" ± {r['rmse_std']:.4f}" if r["folds_run"] > 1 else ""  # no spread of 1 fold
        assert c[5 + len(extra)] == f"{r['rmse_mean']:.4f}{spread}"

    # test metrics beside every baseline, each with its definition
    test, baselines = summary["test"], summary["baselines"]
    rmse_row = next(c for _, c in doc.rows if c[0] == "RMSE")
    assert rmse_row[1] == f"{test['rmse']:.4f}"
    assert rmse_row[2] == f"{baselines['global_mean']['rmse']:.4f}"
    assert rmse_row[3] == f"{baselines['bias']['rmse']:.4f}"
    assert rmse_row[4] == "—"  # most popular has no rating metrics
    assert rmse_row[5] == METRIC_DEFINITIONS["rating_errors.rmse"]
    ndcg_row = next(c for _, c in doc.rows if c[0] == f"catalogue NDCG@{test['k']}")
    assert ndcg_row[1] == f"{test['catalogue_top_k']['ndcg']:.4f}"
    assert ndcg_row[4] == f"{baselines['most_popular']['catalogue_top_k']['ndcg']:.4f}"
    assert ndcg_row[5] == METRIC_DEFINITIONS["catalogue_top_k.ndcg"]

    # sample recommendations with titles, next to what the user rated highest
    recs = pd.read_parquet(run_dir / "recommendations.parquet")
    shown = re.findall(r"Recommended for user (\d+)", text)
    assert len(shown) == 3 and len(set(shown)) == 3
    for user in shown:
        mine = recs[recs["user_id"] == int(user)].sort_values("rank")
        first = mine.iloc[0]
        assert any(c[:2] == ["1", first["title"]] for _, c in doc.rows), (
            f"user {user}'s first recommendation is missing"
        )
        assert f"Rated highest by user {user}" in text
    train = pd.read_parquet(run_dir / "model" / "train_ratings.parquet")
    heaviest = int(train.groupby("user_id").size().sort_values(kind="stable").index[-1])
    assert str(heaviest) in shown

    # timings, configuration, versions
    for stage, seconds in summary["timings"].items():
        assert any(c[:2] == [stage, f"{seconds:.1f}"] for _, c in doc.rows), stage
    assert json.loads(doc.pre[0]) == summary["config"]
    for name, version in summary["versions"].items():
        assert any(c == [name, version] for _, c in doc.rows), name


def test_rebuild_replaces_the_report(run_dir: Path) -> None:
    before = (run_dir / "report.html").read_bytes()
    assert build_report(run_dir) == run_dir / "report.html"
    assert (run_dir / "report.html").read_bytes() == before  # deterministic


def test_partial_run_folder(run_dir: Path, summary: dict[str, Any], tmp_path: Path) -> None:
    """Only summary.json and the plots (no model, lists or rejects file), in a folder still
    being written by atomic_dir: the page is built and says what is missing."""
    partial = tmp_path / ".out.tmp-0123abcd"
    (partial / "plots").mkdir(parents=True)
    for png in (run_dir / "plots").glob("*.png"):
        (partial / "plots" / png.name).write_bytes(png.read_bytes())
    clean = json.loads(json.dumps(summary))
    clean["data"]["rejected"] = 0
    clean["data"]["load"]["rejected"] = {}
    (partial / "summary.json").write_text(json.dumps(clean), encoding="utf-8")
    text = html.unescape(build_report(partial).read_text(encoding="utf-8"))
    assert "movierec run report: out<" in text  # the final folder name, not the temporary one
    assert "No input row was rejected" in text
    assert "recommendations.parquet is not in this run folder" in re.sub(r"<[^>]+>", "", text)
    assert len(parse(text).images) == len(list(partial.glob("plots/*.png")))


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(MovierecError, match=r"not a movierec run folder \(no summary\.json\)"):
        build_report(tmp_path)
    assert not (tmp_path / "report.html").exists()
    with pytest.raises(MovierecError, match="no such folder"):
        build_report(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MovierecError, match="unreadable run summary"):
        build_report(tmp_path)


# --------------------------------------------------------------------------- headless Chromium


class Cdp:
    """A minimal Chrome DevTools Protocol client over one websocket (flat sessions)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(
        self, method: str, session: str | None = None, timeout: float = 30, **params: Any
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"CDP {method} failed: {reply['error']}")
                return dict(reply.get("result", {}))
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == event for e in self.events):
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in reply:
                self.events.append(reply)

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    """Chromium writes ``<port>\n<browser path>`` to ``<profile>/DevToolsActivePort`` when
    its DevTools endpoint listens (the same as the "DevTools listening on ws://..." line)."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.is_file():
            lines = port_file.read_text().split("\n")
            if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].startswith("/"):
                return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"Chromium did not start its DevTools endpoint; its log:\n{log.read_text()}")


def render_in_chromium(
    page: Path, screenshot: Path, workdir: Path, size: tuple[int, int] = LAPTOP
) -> tuple[dict[str, Any], list[str]]:
    """Open ``page`` in headless Chromium at ``size``, save a full-page PNG to ``screenshot``;
    return the page state (see ``_PAGE_STATE``) and the errors the page logged."""
    from websockets.sync.client import connect

    profile = workdir / "profile"
    profile.mkdir()
    log = workdir / "chromium.log"
    width, height = size
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=log_fh, start_new_session=True
        )
    try:
        ws_url = _devtools_url(profile, proc, log)
        with connect(ws_url, max_size=None, open_timeout=30, proxy=None) as ws:
            cdp = Cdp(ws)
            target = cdp.call("Target.createTarget", url="about:blank")["targetId"]
            attached = cdp.call("Target.attachToTarget", targetId=target, flatten=True)
            session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                cdp.call(f"{domain}.enable", session=session)
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                session=session,
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            nav = cdp.call("Page.navigate", session=session, url=page.resolve().as_uri())
            assert "errorText" not in nav, nav
            cdp.wait_for("Page.loadEventFired", timeout=60)
            state = cdp.call(
                "Runtime.evaluate", session=session, returnByValue=True, expression=_PAGE_STATE
            )["result"]["value"]
            metrics = cdp.call("Page.getLayoutMetrics", session=session)
            page_height = int(metrics["cssContentSize"]["height"])
            shot = cdp.call(
                "Page.captureScreenshot",
                session=session,
                timeout=60,
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": width, "height": page_height, "scale": 1},
            )
            errors = cdp.errors()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    return dict(state), errors


def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} not found: this test needs Debian's Chromium; install it with "
            "`apt-get install -y chromium` (.ci/run does this)"
        )
    screenshot = ARTIFACTS / "report.png"
    state, errors = render_in_chromium(run_dir / "report.html", screenshot, tmp_path)

    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
    n_plots = len(list((run_dir / "plots").glob("*.png")))
    assert state["images"] == n_plots
    assert state["allLoaded"], f"images that did not load: {state['broken']}"
    assert state["scrollWidth"] <= LAPTOP[0], "the page scrolls sideways at laptop width"
    assert state["wideTables"] == [], "tables wider than the page at laptop width"
    assert state["title"].startswith("movierec run report")
    assert errors == [], f"the page logged errors: {errors}"


_PAGE_STATE = """({
  images: document.images.length,
  allLoaded: Array.from(document.images).every(i => i.complete && i.naturalWidth > 0),
  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
                                     .map(i => i.alt),
  scrollWidth: document.documentElement.scrollWidth,
  wideTables: Array.from(document.querySelectorAll(".table-wrap"))
                   .filter(w => w.scrollWidth > w.clientWidth + 1)
                   .map(w => w.querySelector("caption").textContent),
  title: document.title,
})"""


def test_random_search_with_ranking_objective(ml_small: Path, tmp_path: Path) -> None:
    """A random search tuned for NDCG@10: the page names the search and objective, shows the
    trials plot instead of RMSE heatmaps, and lists every trial with its NDCG and status."""
    cfg = build_config(
        overrides={
            "engine": "local",
            "data": {"path": str(ml_small / "ratings.csv"), "movies": str(ml_small / "movies.csv")},
            "tuning": {
                "models": ["implicit-als", "als"],
                "search": "random",
                "trials": 3,
                "objective": "ndcg@10",
                "rank_range": [4, 8],
                "max_iters": [3],
                "folds": 2,
            },
            "split": {"train_fractions": [0.8]},
            "recommend": {"recommender": "most-popular"},
        }
    )
    out = tmp_path / "run"
    summary = run(cfg, out)
    text = html.unescape(re.sub(r"<[^>]+>", " ", (out / "report.html").read_text("utf-8")))
    tuning = summary["tuning"]
    assert "Random search over 3 trials" in text
    assert "mean validation NDCG@10, higher is better" in text
    assert (out / "plots" / "tuning_trials.png").exists()
    assert not list((out / "plots").glob("tuning_heatmap*.png"))
    assert "NDCG@10 by trial" in text
    for row in tuning["results"]:
        assert f"{row['ndcg_mean']:.4f}" in text
    best = tuning["best"]
    assert f"mean NDCG@10 {best['objective_mean']:.4f}" in re.sub(r"\s+", " ", text)
    assert len(parse((out / "report.html").read_text("utf-8")).images) == len(
        list((out / "plots").glob("*.png"))
    )


def test_values_from_the_folder_are_escaped(
    run_dir: Path, summary: dict[str, Any], tmp_path: Path
) -> None:
    """Markup in any value read from the folder (summary, rejects.csv) stays text: the
    templates escape by default, so a hostile file name, reason, note or version cannot
    inject a tag."""
    evil = '<script>alert("x")</script><b onclick=1>'
    folder = tmp_path / "evil"
    (folder / "plots").mkdir(parents=True)
    bad = json.loads(json.dumps(summary))
    bad["data"]["load"]["path"] = evil
    bad["data"]["load"]["rejected"] = {evil: 1}
    bad["tuning"]["refit"]["note"] = evil
    bad["recommendations"]["why"] = evil
    bad["ranking_verdict"] = [evil]
    bad["versions"] = {evil: evil}
    bad["timings"] = {evil: 1.0, "total": 1.0}
    (folder / "summary.json").write_text(json.dumps(bad), encoding="utf-8")
    (folder / "rejects.csv").write_text(f"line,column,reason,raw\n1,{evil},x,{evil}\n")
    page = build_report(folder).read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<b onclick" not in page.lower()
    assert page.count("&lt;script&gt;") >= 8
