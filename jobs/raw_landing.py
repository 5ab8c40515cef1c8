"""Reading complete raw landings (manifest first, then its pages) in the Spark driver.

Spark on these machines has no S3A filesystem, and a slot's landing is small (a few pages), so the
driver reads it with boto3 and hands rows to Spark. S3 settings come from Spark conf (`spark.lake.s3.*`,
rendered by lake.catalog_config) like the catalog does.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config

from jobs.common import JobInputError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyspark.sql import SparkSession

CONF_PREFIX = "spark.lake.s3."


def s3_from_conf(spark: SparkSession) -> tuple[S3Client, str]:
    conf = {
        key.removeprefix(CONF_PREFIX): value
        for key, value in spark.sparkContext.getConf().getAll()
        if key.startswith(CONF_PREFIX)
    }
    client = boto3.client(
        "s3",
        endpoint_url=conf.get("endpoint") or None,
        region_name=conf.get("region", "us-east-1"),
        aws_access_key_id=conf.get("access-key-id"),
        aws_secret_access_key=conf.get("secret-access-key"),
        config=botocore.config.Config(
            s3={"addressing_style": "path" if conf.get("path-style") == "true" else "virtual"}
        ),
    )
    bucket = conf.get("raw-bucket")
    if not bucket:
        raise JobInputError(f"{CONF_PREFIX}raw-bucket is not set in the Spark conf")
    return client, bucket


def read_landing(s3: S3Client, bucket: str, manifest_key: str) -> tuple[dict[str, Any], list[Any]]:
    """The manifest and every record of a complete landing, each page checked against its checksum."""
    try:
        manifest: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise JobInputError(f"landing s3://{bucket}/{manifest_key} is not complete: no manifest") from None
    records: list[Any] = []
    for page in manifest["pages"]:
        body = s3.get_object(Bucket=bucket, Key=page["key"])["Body"].read()
        if hashlib.sha256(body).hexdigest() != page["sha256"]:
            raise JobInputError(f"page s3://{bucket}/{page['key']} does not match its manifest checksum")
        records += json.loads(body)
    if len(records) != manifest["records"]:
        raise JobInputError(f"{manifest_key}: manifest says {manifest['records']} records, pages hold {len(records)}")
    return manifest, records
