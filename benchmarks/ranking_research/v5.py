from harness import *
def ease_thr(f, lam=200.0, Xs=None, rows=None, beta=0.0):
    Xt = thr(f)
    G_rows = Xt if rows is None else rows(f, Xt)
    M, dP = dual(G_rows, np.full(Xt.shape[1], lam))
    # scores for real users: Xs P; need P explicitly if rows differ
    if rows is None and Xs is None:
        S = Xt - M / dP
    else:
        # P = (1/lam)(I - G_rows^T M) ; Xs P = (Xs - (Xs G_rows^T) M)/lam
        Xin = Xt if Xs is None else Xs(f)
        XP = (Xin - (Xin @ G_rows.T) @ M) / lam
        S = Xin - XP / dP
    pop = np.maximum(f.X.toarray().sum(0), 1)
    return S / pop ** beta
both("thr ease 200", lambda f: ease_thr(f))
both("thr ease 200 pop0.1", lambda f: ease_thr(f, beta=0.1))
both("thr ease 200 pop0.05", lambda f: ease_thr(f, beta=0.05))
both("thr ease 200 pop0.15", lambda f: ease_thr(f, beta=0.15))
for k in [1.0, 2.0]:
    both(f"thr ease 200 input (r/5)^{k}", lambda f, k=k: ease_thr(f, Xs=lambda f: thr(f) * (f.R.toarray() / 5) ** k))
