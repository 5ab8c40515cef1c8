"""The seed's way of writing a signal: a whole Spark application for one row (bench/slot_latency.py).

spark-submit ... bench/seed_style_signal.py --table landing.signals_seed_style --job-id J --records N ...
"""

import argparse
from datetime import UTC, datetime

from pyspark.sql import SparkSession


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--table", "--job-id", "--endpoint", "--s3-path", "--ds"):
        parser.add_argument(name, required=True)
    parser.add_argument("--hr", type=int, required=True)
    parser.add_argument("--min", type=int, required=True)
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args()
    spark = SparkSession.builder.appName("seed_style_signal").getOrCreate()
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {args.table} (job_id string, endpoint string, s3_path string, ds string, "
        "hr int, min int, record_count bigint, published_at timestamp) USING iceberg PARTITIONED BY (ds, hr, min)"
    )
    row = [(args.job_id, args.endpoint, args.s3_path, args.ds, args.hr, args.min, args.records, datetime.now(UTC))]
    spark.createDataFrame(row, spark.table(args.table).schema).writeTo(args.table).append()


if __name__ == "__main__":
    main()
