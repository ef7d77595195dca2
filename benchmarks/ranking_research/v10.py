import sys; sys.argv=["x"]
import harness
from harness import *
harness.FV = []
from movierec.engines.ease import weights_dual, sparsify_rows
cache = {}
def B_of(f):
    if id(f) not in cache:
        X = sp.csr_matrix(thr(f))
        cache[id(f)] = (X, weights_dual(X, 200.0))
    return cache[id(f)]
for k in [1000, 2000]:
    both(f"topk {k} per column", lambda f, k=k: np.asarray((B_of(f)[0] @ sparsify_rows(np.ascontiguousarray(B_of(f)[1].T), k).T).toarray()))
def glob(b, frac):
    t = np.quantile(np.abs(b), 1 - frac)
    return sp.csr_matrix(np.where(np.abs(b) >= t, b, 0))
for frac in [0.2, 0.05]:
    both(f"global keep {frac}", lambda f, frac=frac: np.asarray((B_of(f)[0] @ glob(B_of(f)[1], frac)).toarray()))
