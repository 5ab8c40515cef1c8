"""The crawler: a Redis job queue feeding Scrapy spiders that land raw JSON on S3. Knows nothing of
Dagster, Airflow or Spark; of the project it uses only the core (lake: settings, storage) and the shared
contracts (lake_contracts)."""
