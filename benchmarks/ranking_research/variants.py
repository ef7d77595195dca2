from common import *
import itertools, pickle, os
import os
F = valid_folds() if os.environ.get("VALID") else folds()

def dual(Xt, lam_vec, Y=None, row_scale=None):
    """Xt: weighted users x items (dense). lam_vec: per-item ridge. Y: target (users x items) or None (=Xt).
    row_scale: scoring input = Xt / row_scale[:,None]. Returns scores users x items."""
    Li = 1.0 / lam_vec
    XL = Xt * Li
    Kp = XL @ Xt.T
    Kp[np.diag_indices_from(Kp)] += 1.0
    M = sl.solve(Kp, XL, assume_a="pos")  # = Xt P
    dP = Li * (1.0 - (Xt * M).sum(0))
    if Y is None:
        S = Xt - M / dP
    else:
        mu = (M * Y).sum(0) / dP
        S = (M @ Xt.T) @ Y - M * mu
    if row_scale is not None:
        S = S / row_scale[:, None]
    return S

def run(name, make):
    ms = []
    for f in F:
        ms.append(f.score(make(f)))
    return summarize(name, ms)

if __name__ == "__main__":
    import sys
    which = sys.argv[1:]
    for lam in [150, 250]:
        run(f"ease {lam}", lambda f: dual(f.X.toarray(), np.full(f.X.shape[1], lam)))
    # threshold-only interactions
    for lam in [100, 200, 300]:
        def mk(f, lam=lam):
            Xt = (f.R.toarray() >= 3).astype(float)
            return dual(Xt, np.full(Xt.shape[1], lam))
        run(f"ease thr>=3 in/out {lam}", mk)
    for lam in [100, 200, 300]:
        def mk(f, lam=lam):
            X = f.X.toarray(); Y = (f.R.toarray() >= 3).astype(float)
            return dual(X, np.full(X.shape[1], lam), Y=Y)
        run(f"ease in all, out thr>=3 {lam}", mk)
