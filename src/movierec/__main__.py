"""``python -m movierec`` and ``spark-submit .../movierec/__main__.py``: the CLI."""

from movierec.cli import main

if __name__ == "__main__":
    main()
