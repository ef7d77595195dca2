"""The one error hierarchy of movierec.

The CLI turns any :class:`MovierecError` into a one-line message and exit code 2;
anything else is a bug and exits with code 3 after logging the traceback.
"""

from __future__ import annotations


class MovierecError(Exception):
    """Base class for every error movierec raises on purpose."""


class ConfigError(MovierecError):
    """A configuration value or combination of options is invalid."""


class DataError(MovierecError):
    """Input data is missing, malformed, or cannot be used.

    ``path``, ``line`` (1-based) and ``column`` locate the problem when known; they are
    included in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = message
        self.path = path
        self.line = line
        self.column = column
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class DatasetError(MovierecError):
    """A named dataset is unknown, or its download or checksum failed."""


class ModelError(MovierecError):
    """A model directory is missing, incomplete, or from an incompatible version."""


class EngineError(MovierecError):
    """The compute engine (e.g. Spark) could not start or failed."""
