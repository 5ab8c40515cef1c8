"""Tables written through pyiceberg: declared here with schema and partition spec, created on first write.

(The Spark jobs declare their own tables in jobs/; both create only inside namespaces that exist and
refuse a table whose columns differ from the declaration, naming the column.)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, ValidationException
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, TimestamptzType

from lake.catalog import require_namespace
from lake_contracts import tables

log = logging.getLogger(__name__)


class SchemaMismatchError(ValueError):
    """An existing table's columns differ from the declaration; the message names each column."""


@dataclass(frozen=True)
class TableDefinition:
    identifier: str
    schema: Schema
    spec: PartitionSpec
    # Set at creation, and set again on an existing table where they differ: the declaration wins.
    properties: dict[str, str] = field(default_factory=dict)


# A table committed to every minute: its history must not make each commit slower than the last.
# - Manifests are merged on append (else the manifest list grows by one entry per commit), into SMALL
#   manifests (64 KiB, ~150 entries: a few hours of minute slots). pyiceberg packs consecutive manifests,
#   so each merged manifest covers a short run of slots, and a publish's delete scan skips every manifest
#   whose partition range misses its slot without opening it. With the default 8 MB target everything
#   merged into one manifest spanning all slots and every publish read every entry: p50 113 -> 216 ms
#   over 1000 commits. Measured over 1000 commits (p50 of the last 100): 16 KiB 113 ms (a merge almost
#   every commit), 64 KiB 100 ms, 4 KiB 174 ms and growing (nothing merges, the list grows).
# - Old metadata files are deleted after a commit instead of piling up.
MINUTE_COMMITS = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "16",
    "commit.manifest.target-size-bytes": "65536",
    "write.metadata.previous-versions-max": "10",
    "write.metadata.delete-after-commit.enabled": "true",
}


def _identity(source_id: int, field_id: int, name: str) -> PartitionField:
    return PartitionField(source_id=source_id, field_id=field_id, transform=IdentityTransform(), name=name)


# One row per complete landing: the seed's columns, plus what makes a row traceable to its landing.
SIGNALS = TableDefinition(
    identifier=tables.SIGNALS,
    schema=Schema(
        NestedField(1, "run_id", StringType(), required=False),
        NestedField(2, "endpoint", StringType(), required=True),
        NestedField(3, "s3_path", StringType(), required=True),
        NestedField(4, "ds", StringType(), required=True),
        NestedField(5, "hr", IntegerType(), required=True),
        NestedField(6, "min", IntegerType(), required=True),
        NestedField(7, "published_at", TimestamptzType(), required=True),
        NestedField(8, "job_id", StringType(), required=True),
        NestedField(9, "record_count", LongType(), required=True),
        NestedField(10, "manifest_key", StringType(), required=True),
        identifier_field_ids=[8],
    ),
    spec=PartitionSpec(_identity(4, 1000, "ds"), _identity(5, 1001, "hr"), _identity(6, 1002, "min")),
    # pyiceberg's own commit retry re-applies a delete with the files it planned first (snapshot
    # isolation), so two runs re-publishing one job at once could both leave a row. lake.signals retries
    # a conflict itself (commit_retrying: the whole overwrite planned again on the new head). The property
    # is Iceberg's, so Spark's commits to this table (its maintenance) do not retry inside either: the
    # maintenance job plans a refused step again itself.
    properties=MINUTE_COMMITS | {"commit.retry.num-retries": "0"},
)


def ensure_table(catalog: Catalog, definition: TableDefinition) -> Table:
    """Load the table, checking its columns, or create it (only inside an existing namespace)."""
    try:
        table = catalog.load_table(definition.identifier)
    except NoSuchTableError:
        require_namespace(catalog, definition.identifier)  # only a create needs it: one round trip less a write
        return catalog.create_table_if_not_exists(
            definition.identifier,
            schema=definition.schema,
            partition_spec=definition.spec,
            properties=definition.properties,
        )
    check_schema(definition, table.schema())
    differing = {k: v for k, v in definition.properties.items() if table.properties.get(k) != v}
    if differing:
        with table.transaction() as transaction:
            transaction.set_properties(differing)
    return table


def commit_retrying(table: Table, write: Callable[[Table], None], attempts: int = 8) -> None:
    """Run `write` (one commit) on `table`; when another commit got in first, reload and write again.

    Writing again plans everything afresh on the new head (a delete included). pyiceberg's own retry
    cannot do that on Nessie: it rebases on the snapshot history in the table's metadata, and Nessie keeps
    one snapshot per table version ('Cannot find starting snapshot'). Either way nothing is half-written:
    a refused commit changed nothing.
    """
    for attempt in range(1, attempts + 1):
        try:
            write(table)
            return
        except (CommitFailedException, ValidationException) as exc:
            if attempt == attempts:
                raise
            log.info("%s: another commit got in first (%s); writing again on the new head", table.name(), exc)
            time.sleep(random.uniform(0.02, 0.05 * attempt))  # noqa: S311 jitter, so two losers do not collide again
            table.refresh()


def check_schema(definition: TableDefinition, actual: Schema) -> None:
    want = {field.name: field for field in definition.schema.fields}
    have = {field.name: field for field in actual.fields}
    problems = [f"column {name!r} is missing from {definition.identifier}" for name in want if name not in have]
    problems += [f"column {name!r} of {definition.identifier} is not declared" for name in have if name not in want]
    problems += [
        f"column {name!r} of {definition.identifier} is {have[name].field_type}, declared {field.field_type}"
        for name, field in want.items()
        if name in have and have[name].field_type != field.field_type
    ]
    if problems:
        raise SchemaMismatchError("; ".join(problems))
