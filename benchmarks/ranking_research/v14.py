import sys; sys.argv=["x"]
import harness
from harness import *
exec(open("v12.py").read().split("for w in")[0].split("from harness import *")[1])
exec(open("v11.py").read().split("cfgs = ")[0].split("from harness import *")[1])
for w in [0.6, 0.75]:
    both(f"blend ease thr200 + {w} implicit50", lambda f, w=w: (1 - w) * z(ease_s(f), f) + w * z(ials_s(f), f))
def sess(f):
    k = (id(f), "s")
    if k not in cache:
        S_ = primal(f, 200, 1.0, minpop=2); S_[S_ < -1e8] = 0.0; cache[k] = S_
    return cache[k]
for w in [0.4, 0.6]:
    both(f"blend sessions-ease + {w} implicit50", lambda f, w=w: (1 - w) * z(sess(f), f) + w * z(ials_s(f), f))
