"""The HTTP service: recommendations for known and new users, similar movies, hot reload.

* :mod:`movierec.service.scorer` — a model folder loaded into numpy (no Spark);
* :mod:`movierec.service.app` — the FastAPI app (``create_app``);
* :mod:`movierec.service.server` — ``serve(model_dir, host, port)`` with uvicorn.

Importing this package is cheap: the submodules load on first use.
"""

from __future__ import annotations
