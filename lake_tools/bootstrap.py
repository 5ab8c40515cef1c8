"""`lake bootstrap`: the raw bucket and every Iceberg namespace the project writes into, idempotently."""

from __future__ import annotations

import botocore.exceptions

from lake.catalog import ensure_namespaces, open_catalog
from lake.settings import LakeSettings
from lake.storage import s3_client
from lake_contracts.tables import NAMESPACES


def ensure_bucket(settings: LakeSettings) -> bool:
    """Create the raw bucket when missing; True when this call created it."""
    client = s3_client(settings)
    bucket = settings.s3.raw_bucket
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        return False  # a concurrent bootstrap created it
    return True


def bootstrap(settings: LakeSettings) -> list[str]:
    report = []
    created = ensure_bucket(settings)
    report.append(f"bucket {settings.s3.raw_bucket!r}: {'created' if created else 'exists'}")
    new = ensure_namespaces(open_catalog(settings), NAMESPACES)
    for namespace in NAMESPACES:
        report.append(f"namespace {namespace!r}: {'created' if namespace in new else 'exists'}")
    return report
