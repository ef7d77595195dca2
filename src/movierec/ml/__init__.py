"""Biased ALS as a ``pyspark.ml`` Estimator/Model pair, for Spark ML pipelines.

``BiasedALS`` fits prediction = μ + b_u + b_i + x_u·y_i: the global mean μ and damped user
and movie biases come from two DataFrame aggregations (exactly the arithmetic of the Spark
engine's ``biased-als``, :class:`movierec.engines.spark_als.SparkBiases`), then Spark MLlib's
ALS is fitted on the residuals r − μ − b_u − b_i. ``BiasedALSModel.transform`` adds the
four terms and clips the result to the rating scale. Both classes have Params, work inside
a :class:`pyspark.ml.Pipeline` and :class:`pyspark.ml.tuning.CrossValidator`, and save/load
with ``write().save(path)`` / ``load(path)`` (also as Pipeline stages)::

    from movierec.ml import BiasedALS
    als = BiasedALS(userCol="userId", itemCol="movieId", coldStartStrategy="drop", seed=42)
    model = als.fit(train_df)
    model.transform(test_df)            # adds "prediction", clipped to [min, max] rating

The modules: ``params`` (the shared Params, their defaults and checks), ``estimator``
(:class:`BiasedALS`), ``model`` (:class:`BiasedALSModel` with its writer and reader).
"""

from __future__ import annotations

from movierec.ml.estimator import BiasedALS
from movierec.ml.model import BiasedALSModel

__all__ = ["BiasedALS", "BiasedALSModel"]
