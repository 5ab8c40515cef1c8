"""Spark conf keys of our own that lake.catalog_config writes and the Spark jobs read."""

from __future__ import annotations

RAW_BUCKET = "spark.lake.raw-bucket"
