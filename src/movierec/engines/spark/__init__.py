"""Spark engine modules (DataFrame operations that run on the executors)."""
