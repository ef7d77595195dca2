"""The Spark engine's data plane: reading, splitting, scoring and writing on the executors."""
