"""The crawler: a Redis job queue feeding Scrapy spiders that land raw JSON on S3. Knows nothing of
Dagster, Airflow or Spark; reads only the shared settings model (lake.settings)."""
