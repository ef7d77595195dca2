import sys, time, numpy as np, pandas as pd, scipy.sparse as sp, scipy.linalg as sl
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
from movierec.config import RunConfig
from movierec.data import load_ratings
from movierec.split import kfold
from movierec.metrics import catalogue_top_k
from movierec.schema import USER, ITEM, RATING, RANK, SCORE

def load():
    cfg = RunConfig.model_validate({"engine": "local", "data": {"path": str(ROOT.parent / "shared" / "datasets" / "ml-latest-small")}})
    return load_ratings(cfg.data).ratings

class Fold:
    def __init__(self, train, test):
        self.train, self.test = train, test
        self.users = np.unique(train[USER].to_numpy())
        self.items = np.unique(train[ITEM].to_numpy())
        u = np.searchsorted(self.users, train[USER].to_numpy())
        i = np.searchsorted(self.items, train[ITEM].to_numpy())
        self.r = train[RATING].to_numpy().astype(np.float64)
        self.X = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=(len(self.users), len(self.items)))
        self.R = sp.csr_matrix((self.r, (u, i)), shape=self.X.shape)
        self.seen = self.X.toarray() > 0
        tu = np.unique(test[USER].to_numpy())
        self.test_rows = np.searchsorted(self.users, tu)
        ok = (self.test_rows < len(self.users))
        ok[ok] &= self.users[self.test_rows[ok]] == tu[ok]
        self.test_rows = self.test_rows[ok]

    def score(self, S, k=10):
        """S: users x items dense scores for all train users."""
        S = np.array(S[self.test_rows], dtype=np.float64, copy=True)
        S[self.seen[self.test_rows]] = -np.inf
        # tie-break by item id ascending: argsort stable on -S
        top = np.argpartition(-S, k, axis=1)[:, :k]
        vals = np.take_along_axis(S, top, 1)
        order = np.lexsort((top, -vals), axis=1) if False else None
        rows = []
        idx = np.argsort(-vals, axis=1, kind="stable")
        top = np.take_along_axis(top, idx, 1)
        recs = pd.DataFrame({USER: np.repeat(self.users[self.test_rows], k),
                             ITEM: self.items[top.ravel()],
                             RANK: np.tile(np.arange(1, k + 1), len(self.test_rows))})
        m = catalogue_top_k(recs, self.test, k, 3.0)
        rel = self.test[self.test[RATING] >= 3].groupby(USER).size()
        # normalised recall
        return m

def folds(seed=42, n=5):
    r = load()
    return [Fold(tr, te) for tr, te in kfold(r, n, seed)]

def summarize(name, ms):
    p = np.array([m["precision"] for m in ms]); nd = np.array([m["ndcg"] for m in ms]); rc = np.array([m["recall"] for m in ms])
    print(f"{name:60s} P@10 {p.mean():.4f}±{p.std():.4f}  R@10 {rc.mean():.4f}  NDCG@10 {nd.mean():.4f}±{nd.std():.4f}", flush=True)
    return p.mean(), nd.mean()

def valid_folds(seed=42, n=5):
    from movierec.split import random_split, SALT_RECOMMENDER
    r = load()
    out = []
    for tr, te in kfold(r, n, seed):
        itr, iva = random_split(tr, 0.2, seed, SALT_RECOMMENDER)
        out.append(Fold(itr, iva))
    return out
