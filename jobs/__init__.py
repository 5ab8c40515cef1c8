"""PySpark applications run with spark-submit. They import nothing of Dagster, Airflow or `lake`: the
catalog comes from Spark conf (rendered by lake.catalog_config) and the slot range from arguments."""
