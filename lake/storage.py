"""An S3 client built from the settings: one place, so every component talks to storage alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import botocore.config

from lake.settings import LakeSettings
from lake_contracts.manifest import Manifest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def s3_client(settings: LakeSettings, connect_timeout: float = 5, retries: int = 3) -> S3Client:
    s3 = settings.s3
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
        config=botocore.config.Config(
            connect_timeout=connect_timeout,
            read_timeout=30,
            retries={"max_attempts": retries, "mode": "standard"},
            s3={"addressing_style": "path" if s3.path_style else "virtual"},
        ),
    )


def read_manifest(s3: S3Client, bucket: str, key: str) -> Manifest | None:
    """The manifest at `key`, or None when the landing is not complete (no manifest yet)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return Manifest.from_json(body)
