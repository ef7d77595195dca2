from harness import *
import sys
def sessions_matrix(f, gap):
    tr = f.train.sort_values(["user_id", "timestamp"])
    tr = tr[tr.rating >= 3]
    u = tr.user_id.to_numpy(); t = tr.timestamp.to_numpy().astype(np.int64)
    new = np.r_[True, (u[1:] != u[:-1]) | (np.diff(t) > gap)]
    sid = np.cumsum(new) - 1
    i = np.searchsorted(f.items, tr.movie_id.to_numpy())
    return sp.csr_matrix((np.ones(len(i)), (sid, i)), shape=(sid[-1] + 1, len(f.items)))
def primal(f, lam, gamma=0.0, gap=3600, minpop=2, beta=0.0):
    Xt = sp.csr_matrix(thr(f))
    G = (Xt.T @ Xt).toarray()
    if gamma:
        S_ = sessions_matrix(f, gap); G += gamma * (S_.T @ S_).toarray()
    pop = np.asarray(f.X.sum(0)).ravel()
    keep = np.flatnonzero(pop >= minpop)
    Gk = G[np.ix_(keep, keep)]
    Gk[np.diag_indices_from(Gk)] += lam
    P = sl.inv(Gk, overwrite_a=True, check_finite=False)
    B = -P / np.diag(P); np.fill_diagonal(B, 0)
    S = np.full(Xt.shape, -1e9)
    S[:, keep] = (Xt[:, keep] @ B) / np.maximum(pop[keep], 1) ** beta
    return S
if __name__ != "__main__": raise SystemExit
args = sys.argv[1:]
both("primal thr 200 minpop2", lambda f: primal(f, 200))
for g in [0.5, 1.0, 2.0]:
    both(f"primal thr 200 minpop2 sessions1h x{g}", lambda f, g=g: primal(f, 200, g))
both(f"primal thr 200 minpop2 sessions1d x1", lambda f: primal(f, 200, 1.0, 86400))
