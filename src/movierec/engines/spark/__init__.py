"""The Spark data plane: every step on the executors, only aggregates and bounded tables on
the driver."""
