"""The HTTP service: recommendations for known and new users, similar movies, hot reload.

* :mod:`movierec.service.server` — ``serve(model_dir, host, port)`` with uvicorn;
* :mod:`movierec.service.app` — the FastAPI app (``create_app``), wired from ``routes``,
  ``handlers``, ``schemas``, ``params``, ``state``, ``middleware``, ``metrics``;
* :mod:`movierec.service.scorer` — a model folder loaded into numpy (no Spark), read by
  ``model_reader``.

Importing this package is cheap: the submodules load on first use.
"""

from __future__ import annotations

API_KEY_ENV = "MOVIEREC_API_KEY"
"""The environment variable holding the admin API key."""
