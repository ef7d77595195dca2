from common import *
import os
FT = folds(); FV = valid_folds()
def dual(Xt, lam_vec, Y=None):
    Li = 1.0 / lam_vec
    XL = Xt * Li
    Kp = XL @ Xt.T
    Kp[np.diag_indices_from(Kp)] += 1.0
    M = sl.solve(Kp, XL, assume_a="pos")
    dP = Li * (1.0 - (Xt * M).sum(0))
    return M, dP
def both(name, make):
    out = []
    for tag, FF in (("valid", FV), ("test", FT)):
        ms = [f.score(make(f)) for f in FF]
        p = np.array([m["precision"] for m in ms]); nd = np.array([m["ndcg"] for m in ms])
        out.append(f"{tag} P {p.mean():.4f} N {nd.mean():.4f}")
    print(f"{name:50s} " + " | ".join(out), flush=True)
def thr(f): return (f.R.toarray() >= 3).astype(float)
