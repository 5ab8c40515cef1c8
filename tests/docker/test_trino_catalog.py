"""docker/trino/catalog/lake.properties (the optional `trino` profile) reads the catalog the settings name.

Trino is not one of the engines lake.catalog_config renders for, so its catalog file is written by hand;
these checks hold it to the compose settings (x-lake-env): the same Nessie Iceberg REST endpoint and
warehouse name, no REST prefix (Nessie derives it), the same S3 endpoint, region and addressing style,
and the S3 key from the container's environment rather than the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from lake.access import Role, s3_access_key_id
from lake.catalog_config import rest_catalog_uri
from lake.settings import LakeSettings
from tests.docker.compose_files import DOCKER_DIR, environment, read_properties, s3_identities_of, services

TRINO_CATALOG_DIR = DOCKER_DIR / "trino" / "catalog"


@pytest.fixture
def catalog_file(settings: LakeSettings) -> Path:
    """Trino names a catalog after its file: the file is the settings' catalog name."""
    return TRINO_CATALOG_DIR / f"{settings.catalog.name}.properties"


@pytest.fixture
def props(catalog_file: Path) -> dict[str, str]:
    return read_properties(catalog_file)


def test_it_is_the_iceberg_rest_catalog_of_the_settings(props: dict[str, str], settings: LakeSettings) -> None:
    assert (props["connector.name"], props["iceberg.catalog.type"]) == ("iceberg", "rest")
    assert props["iceberg.rest-catalog.uri"] == settings.catalog.uri == rest_catalog_uri(settings)
    assert props["iceberg.rest-catalog.warehouse"] == settings.catalog.warehouse


def test_no_rest_prefix(props: dict[str, str]) -> None:
    assert "iceberg.rest-catalog.prefix" not in props
    assert not [key for key in props if key.endswith("prefix")], "Nessie derives the REST prefix"


def test_s3_is_the_storage_of_the_settings(props: dict[str, str], settings: LakeSettings) -> None:
    assert props["fs.native-s3.enabled"] == "true"
    assert props["s3.endpoint"] == settings.s3.endpoint
    assert props["s3.region"] == settings.s3.region
    assert props["s3.path-style-access"] == str(settings.s3.path_style).lower()


def test_trino_reads_as_the_reader_identity_from_the_environment(
    props: dict[str, str], compose: dict[str, Any]
) -> None:
    trino = environment(services(compose)["trino"])
    reader = s3_identities_of(compose)[s3_access_key_id(Role.READER)]
    expected = {
        "s3.aws-access-key": s3_access_key_id(Role.READER),
        "s3.aws-secret-key": reader["secretKey"],
        "iceberg.rest-catalog.oauth2.token": trino["CATALOG_READER_TOKEN"],
    }
    assert props["iceberg.rest-catalog.security"] == "OAUTH2"
    for key, value in expected.items():
        variable = re.fullmatch(r"\$\{ENV:(\w+)\}", props[key])
        assert variable, f"{key} must come from the environment, not the file"
        assert trino.get(variable[1]) == value, f"trino's {variable[1]} is not the reader's {key}"


def test_compose_mounts_it_into_trino(catalog_file: Path, compose: dict[str, Any]) -> None:
    assert sorted(path.name for path in TRINO_CATALOG_DIR.glob("*.properties")) == [catalog_file.name]
    volumes = services(compose)["trino"]["volumes"]
    assert f"./trino/catalog/{catalog_file.name}:/etc/trino/catalog/{catalog_file.name}:ro" in volumes
