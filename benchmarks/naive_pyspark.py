"""The "naive" baseline: the brief done the way a typical PySpark notebook does it.

Default SparkSession settings, CSV read with schema inference, EDA with describe/groupBy,
four randomSplit ratios each fitted with ALS defaults, CrossValidator over the brief's
18-configuration grid with 3 folds, the best model evaluated on a test split, and
recommendForAllUsers(10). Nothing from movierec is imported. ``seed=`` is passed wherever
the API takes one (ALS's default seed is hash("ALS"), which Python randomises per process).

The last line printed is ``RESULT {json}`` (seconds per step and the RMSEs) for
``benchmarks/bench.py``; the rest is what a notebook would show.

    .venv/bin/python benchmarks/naive_pyspark.py [--data ratings.csv] [--quick]
"""

import argparse
import json
import os
import time

from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.recommendation import ALS
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

default_data = os.path.join(
    os.environ.get("MOVIEREC_DATA_DIR", "/work/shared/datasets"), "ml-latest-small", "ratings.csv"
)
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default=default_data, help="MovieLens ratings.csv")
parser.add_argument("--quick", action="store_true", help="tiny grid, for testing the script")
args = parser.parse_args()

SEED = 42
timings = {}
t_start = time.perf_counter()

# --- Session (defaults) --------------------------------------------------------------
t = time.perf_counter()
spark = SparkSession.builder.appName("movie-recommendations").getOrCreate()
timings["session"] = time.perf_counter() - t

# --- Load ----------------------------------------------------------------------------
t = time.perf_counter()
ratings = spark.read.csv(args.data, header=True, inferSchema=True)
ratings.printSchema()
print("ratings:", ratings.count())
timings["load"] = time.perf_counter() - t

# --- EDA -----------------------------------------------------------------------------
t = time.perf_counter()
ratings.describe("userId", "movieId", "rating").show()
n_users = ratings.select("userId").distinct().count()
n_movies = ratings.select("movieId").distinct().count()
print(f"users: {n_users}, movies: {n_movies}")
print("sparsity:", 1.0 - ratings.count() / (n_users * n_movies))
ratings.groupBy("rating").count().orderBy("rating").show()
ratings.groupBy("userId").count().describe("count").show()
ratings.groupBy("movieId").count().orderBy(F.desc("count")).show(10)
timings["eda"] = time.perf_counter() - t

evaluator = RegressionEvaluator(metricName="rmse", labelCol="rating", predictionCol="prediction")

# --- Compare train/test split ratios ---------------------------------------------------
t = time.perf_counter()
split_rmse = {}
for train_share in [0.6, 0.7, 0.75, 0.8]:
    train, test = ratings.randomSplit([train_share, 1.0 - train_share], seed=SEED)
    als = ALS(
        userCol="userId",
        itemCol="movieId",
        ratingCol="rating",
        coldStartStrategy="drop",
        seed=SEED,
    )
    model = als.fit(train)
    rmse = evaluator.evaluate(model.transform(test))
    split_rmse[f"{train_share:.2f}"] = rmse
    print(f"train {train_share:.0%} / test {1 - train_share:.0%}: RMSE = {rmse:.4f}")
timings["split_comparison"] = time.perf_counter() - t

# --- Grid search with 3-fold cross-validation -----------------------------------------
t = time.perf_counter()
training, test = ratings.randomSplit([0.8, 0.2], seed=SEED)
als = ALS(
    userCol="userId",
    itemCol="movieId",
    ratingCol="rating",
    coldStartStrategy="drop",
    seed=SEED,
)
if args.quick:
    grid = ParamGridBuilder().addGrid(als.rank, [8]).addGrid(als.maxIter, [5]).build()
else:
    grid = (
        ParamGridBuilder()
        .addGrid(als.rank, [8, 10, 12])
        .addGrid(als.regParam, [0.05, 0.1, 0.15])
        .addGrid(als.maxIter, [10, 15])
        .build()
    )
cv = CrossValidator(
    estimator=als,
    estimatorParamMaps=grid,
    evaluator=evaluator,
    numFolds=2 if args.quick else 3,
    seed=SEED,
)
cv_model = cv.fit(training)
best_index = min(range(len(grid)), key=lambda i: cv_model.avgMetrics[i])
best_params = {p.name: v for p, v in grid[best_index].items()}
print("best parameters:", best_params, "CV RMSE:", cv_model.avgMetrics[best_index])
timings["tuning"] = time.perf_counter() - t

# --- Evaluate the best model on the test split -----------------------------------------
t = time.perf_counter()
best_model = cv_model.bestModel
test_rmse = evaluator.evaluate(best_model.transform(test))
print(f"test RMSE of the best model: {test_rmse:.4f}")
timings["evaluation"] = time.perf_counter() - t

# --- Top-10 for every user ------------------------------------------------------------
t = time.perf_counter()
user_recs = best_model.recommendForAllUsers(10)
user_recs.show(5, truncate=False)
recs = user_recs.toPandas()
print("users with recommendations:", len(recs))
timings["recommend"] = time.perf_counter() - t

timings["total_in_script"] = time.perf_counter() - t_start
spark.stop()
print(
    "RESULT "
    + json.dumps(
        {
            "timings": timings,
            "split_rmse": split_rmse,
            "best_params": best_params,
            "cv_rmse": cv_model.avgMetrics[best_index],
            "test_rmse": test_rmse,
            "users_with_recommendations": len(recs),
        }
    )
)
