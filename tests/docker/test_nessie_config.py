"""Nessie's configuration in docker/compose.yaml.

- the service's `environment:` is exactly `lake.catalog_config.nessie_properties` of the compose settings
  (x-lake-env plus the login of Nessie's own database), so server and clients cannot disagree;
- the image is the Nessie release lake_tools.jars pins (the embedded stack runs that release's server jar);
- Quarkus properties are dot keys in a mapping-form `environment:`; upper-snake names of hyphenated
  properties (NESSIE_CATALOG_DEFAULT_WAREHOUSE...) are silently ignored by Quarkus, so none may exist;
- S3 credentials only as `urn:nessie-secret:quarkus:<name>` URIs, `<name>.name`/`<name>.secret` holding
  the RustFS key id and secret from docker/.env;
- the JDBC version store on its own PostgreSQL; warehouse `warehouse` at s3://warehouse/ on RustFS,
  path-style; no REST `prefix`; health on the management port 9000 at /q/health, where the settings
  look for it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from lake.access import Role, nessie_authorization_rules, s3_access_key_id
from lake.catalog_config import nessie_properties, pyiceberg_properties
from lake.settings import LakeSettings
from lake_tools.jars import NESSIE_SERVER, NESSIE_VERSION
from tests.docker.compose_files import environment, image_tag, s3_identities_of, services

RULES = "nessie.server.authorization.rules."
SECRET_URI = re.compile(r"urn:nessie-secret:quarkus:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")
UPPER_SNAKE_QUARKUS = re.compile(r"(NESSIE|QUARKUS)_[A-Z0-9_]+")
S3_OPTIONS = "nessie.catalog.service.s3.default-options."


@pytest.fixture(scope="module")
def nessie(compose: dict[str, Any]) -> dict[str, str]:
    return environment(services(compose)["nessie"])


def secret_names(env: dict[str, str]) -> dict[str, str]:
    """property -> secret name, for every property whose value is a Nessie secret URI."""
    return {key: match["name"] for key, value in env.items() if (match := SECRET_URI.fullmatch(value))}


def test_environment_is_the_rendered_nessie_properties(
    raw_compose: dict[str, Any], nessie: dict[str, str], production_settings: LakeSettings
) -> None:
    raw = services(raw_compose)["nessie"]["environment"]
    assert all(isinstance(value, str) for value in raw.values()), "quote every value: Quarkus reads strings"
    assert nessie == nessie_properties(production_settings)


def test_the_image_is_the_pinned_nessie_release(compose: dict[str, Any]) -> None:
    image = str(services(compose)["nessie"]["image"])
    assert image.startswith("ghcr.io/projectnessie/nessie:")
    assert image_tag(image) == NESSIE_VERSION == NESSIE_SERVER.version


def test_properties_are_dot_keys_in_a_mapping(raw_compose: dict[str, Any], nessie: dict[str, str]) -> None:
    assert isinstance(services(raw_compose)["nessie"]["environment"], dict), "use the mapping form"
    upper_snake = sorted(key for key in nessie if UPPER_SNAKE_QUARKUS.fullmatch(key.upper()) and "." not in key)
    assert not upper_snake, f"Quarkus ignores these silently, use dot keys: {upper_snake}"
    allowed_roots = ("nessie.", "quarkus.", *(f"{name}." for name in secret_names(nessie).values()))
    strays = sorted(key for key in nessie if "." in key and not key.startswith(allowed_roots))
    assert not strays, f"dot keys that configure nothing: {strays}"


def test_s3_credentials_are_secret_uris_filled_from_the_env_file(
    raw_compose: dict[str, Any], compose: dict[str, Any], nessie: dict[str, str]
) -> None:
    """Nessie's own S3 identity (lake.access: reads and writes the warehouse), its secret from docker/.env,
    named by a secret URI and nowhere else in clear."""
    references = secret_names(nessie)
    assert set(references) == {f"{S3_OPTIONS}access-key"}
    name = references[f"{S3_OPTIONS}access-key"]
    raw = environment(services(raw_compose)["nessie"])
    assert "${" in raw[f"{name}.secret"], "the secret comes from docker/.env"
    assert nessie[f"{name}.name"] == s3_access_key_id(Role.NESSIE)
    identities = s3_identities_of(compose)
    assert identities[nessie[f"{name}.name"]]["secretKey"] == nessie[f"{name}.secret"]
    elsewhere = [key for key, value in nessie.items() if value == nessie[f"{name}.secret"] and key != f"{name}.secret"]
    assert not elsewhere


def test_nessie_lets_in_only_tokens_of_the_stack_s_key_and_applies_the_rules(
    nessie: dict[str, str], env_example: dict[str, str]
) -> None:
    assert nessie["nessie.server.authentication.enabled"] == "true"
    assert nessie["quarkus.oidc.public-key"] == env_example["NESSIE_TOKEN_PUBLIC_KEY"]
    assert nessie["nessie.server.authorization.enabled"] == "true"
    rules = {key.removeprefix(RULES): value for key, value in nessie.items() if key.startswith(RULES)}
    assert rules == nessie_authorization_rules()


def test_version_store_is_jdbc_on_its_own_postgresql(compose: dict[str, Any], nessie: dict[str, str]) -> None:
    assert nessie["nessie.version.store.type"] in ("JDBC2", "JDBC")
    datasource = nessie["nessie.version.store.persist.jdbc.datasource"]
    assert datasource == "postgresql"
    url = nessie[f"quarkus.datasource.{datasource}.jdbc.url"]
    match = re.fullmatch(r"jdbc:postgresql://(?P<host>[^:/]+):(?P<port>\d+)/(?P<db>\w+)", url)
    assert match, url
    db = services(compose)[match["host"]]
    assert str(db["image"]).startswith("postgres:")
    db_env = environment(db)
    assert db_env["POSTGRES_DB"] == match["db"]
    assert db_env["POSTGRES_USER"] == nessie[f"quarkus.datasource.{datasource}.username"]
    assert db_env["POSTGRES_PASSWORD"] == nessie[f"quarkus.datasource.{datasource}.password"]
    address = re.compile(rf"[/@]{re.escape(match['host'])}[:/]")
    users = [name for name, service in services(compose).items() if address.search(str(environment(service)))]
    assert users == ["nessie"], f"{match['host']} is Nessie's own database, not shared with {users}"


def test_warehouse_and_s3_endpoint(
    compose: dict[str, Any], nessie: dict[str, str], production_settings: LakeSettings
) -> None:
    settings = production_settings
    warehouse = nessie["nessie.catalog.default-warehouse"]
    assert warehouse == settings.catalog.warehouse == "warehouse"
    location = nessie[f"nessie.catalog.warehouses.{warehouse}.location"]
    assert location == settings.nessie.warehouse_location == "s3://warehouse/"
    endpoint = urlsplit(nessie[f"{S3_OPTIONS}endpoint"])
    assert f"{endpoint.scheme}://{endpoint.netloc}" == settings.s3.endpoint
    assert endpoint.hostname in services(compose)
    assert nessie[f"{S3_OPTIONS}path-style-access"] == "true"
    assert settings.s3.path_style
    assert nessie[f"{S3_OPTIONS}region"] == settings.s3.region


def test_no_rest_prefix_anywhere(nessie: dict[str, str], settings: LakeSettings) -> None:
    assert not [key for key in nessie if key.endswith("prefix")]
    assert "prefix" not in pyiceberg_properties(settings)
    assert settings.catalog.uri == "http://nessie:19120/iceberg"


def test_health_is_checked_on_the_management_port(
    compose: dict[str, Any], nessie: dict[str, str], settings: LakeSettings
) -> None:
    management, http = nessie["quarkus.management.port"], nessie["quarkus.http.port"]
    check = " ".join(services(compose)["nessie"]["healthcheck"]["test"])
    assert f"/dev/tcp/127.0.0.1/{management}" in check
    assert "GET /q/health " in check
    assert settings.catalog.nessie_health_url == f"http://nessie:{management}/q/health"
    assert urlsplit(settings.catalog.uri).port == int(http)
    # Listening on every interface of the container: other services reach it by name.
    assert nessie["quarkus.http.host"] == nessie["quarkus.management.host"] == "0.0.0.0"  # noqa: S104
    published = services(compose)["nessie"]["ports"]
    assert any(str(port).endswith(f":{management}") for port in published)
    assert any(str(port).endswith(f":{http}") for port in published)
