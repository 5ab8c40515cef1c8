"""Find Iceberg partitions whose partition tuple holds a NULL, from manifest metadata alone (no data scan).

Three ways a NULL gets there, each reported with its kind:
- null_value: a row's source value was NULL (say a cast that failed quietly), so its partition is NULL;
- void_transform: the field was dropped from the spec of a format-v1 table, which keeps it as `void`;
- not_in_spec: the file was written under an older spec that lacked the field (spec evolution).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.manifest import DataFileContent, ManifestContent
from pyiceberg.table import Table
from pyiceberg.transforms import VoidTransform


@dataclass
class NullPartition:
    spec_id: int
    partition: dict[str, Any]
    null_fields: dict[str, str]  # field name -> kind (null_value, void_transform, not_in_spec)
    file_count: int = 0
    record_count: int = 0
    sample_files: list[str] = field(default_factory=list)

    def describe(self) -> str:
        values = ", ".join(f"{name}={value!r}" for name, value in self.partition.items())
        why = ", ".join(f"{name}: {kind}" for name, kind in self.null_fields.items())
        return f"spec {self.spec_id} ({values}): {self.file_count} files, {self.record_count} rows [{why}]"


def find_null_partitions(table: Table, snapshot_id: int | None = None) -> list[NullPartition]:
    snapshot = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
    if snapshot is None:
        if snapshot_id is not None:
            raise ValueError(f"table {table.name()} has no snapshot {snapshot_id}")
        return []
    specs = table.specs()
    manifests = [m for m in snapshot.manifests(table.io) if m.content == ManifestContent.DATA]
    # Every partition field any live file's spec has, by field id: the table's unified partition tuple.
    unified: dict[int, str] = {}
    for spec_id in sorted({m.partition_spec_id for m in manifests}):
        for spec_field in specs[spec_id].fields:
            unified.setdefault(spec_field.field_id, spec_field.name)

    found: dict[tuple[int, tuple[tuple[str, Any], ...]], NullPartition] = {}
    for manifest in manifests:
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            data_file = entry.data_file
            if data_file.content != DataFileContent.DATA:
                continue
            spec = specs[data_file.spec_id]
            values: dict[str, Any] = {}
            nulls: dict[str, str] = {}
            for position, spec_field in enumerate(spec.fields):
                value = data_file.partition[position]
                values[spec_field.name] = value
                if value is None:
                    nulls[spec_field.name] = (
                        "void_transform" if isinstance(spec_field.transform, VoidTransform) else "null_value"
                    )
            in_spec = {spec_field.field_id for spec_field in spec.fields}
            for field_id, name in unified.items():
                if field_id not in in_spec:
                    values[name] = None
                    nulls[name] = "not_in_spec"
            if not nulls:
                continue
            key = (data_file.spec_id, tuple(sorted(values.items(), key=lambda item: item[0])))
            partition = found.setdefault(key, NullPartition(data_file.spec_id, values, nulls))
            partition.file_count += 1
            partition.record_count += data_file.record_count
            if len(partition.sample_files) < 5:
                partition.sample_files.append(data_file.file_path)
    return sorted(found.values(), key=lambda p: (p.spec_id, repr(sorted(p.partition.items(), key=str))))


def null_partition_counts(found: list[NullPartition]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for partition in found:
        for kind in partition.null_fields.values():
            counts[kind] += partition.record_count
    return dict(counts)
