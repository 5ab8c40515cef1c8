"""docker/.env as `lake compose` completes it: every secret set, and what the services read rendered from the
secrets by lake.access's rules, so what Redis, the S3 store, Nessie and the webserver check agrees with what
each client holds. No engine: the renderings are checked against the libraries that verify them."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import jwt

from lake.access import CATALOG_ROLES, TOKEN_AUDIENCE, TOKEN_ISSUER, Role
from lake_tools.compose.project import catalog_token_variable, complete_env_file, read_env_file
from lake_tools.platform.dagster_web import password_digest
from tests.docker.compose_files import ENV_EXAMPLE


def test_a_copy_of_the_example_gets_real_secrets_and_consistent_renderings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env_file)
    values = complete_env_file(env_file)
    assert not [key for key, value in values.items() if "change-me" in value]
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert read_env_file(env_file) == values

    acl = base64.b64decode(values["SCRAPREDIS_ACL"]).decode()
    crawler = hashlib.sha256(values["SCRAPREDIS_CRAWLER_PASSWORD"].encode()).hexdigest()
    assert f"user crawler on #{crawler} " in acl
    assert values["SCRAPREDIS_CRAWLER_PASSWORD"] not in acl  # hashes only

    identities = json.loads(base64.b64decode(values["S3_IDENTITIES"]))["identities"]
    keys = {i["credentials"][0]["accessKey"]: i["credentials"][0]["secretKey"] for i in identities}
    assert keys["lake-writer"] == values["S3_WRITER_SECRET_KEY"]

    users = json.loads(values["DAGSTER_WEB_USERS"])
    assert users["airflow-bridge"] == password_digest(values["DAGSTER_AIRFLOW_BRIDGE_PASSWORD"])

    public = base64.b64decode(values["NESSIE_TOKEN_PUBLIC_KEY"])
    for role in CATALOG_ROLES:
        claims = jwt.decode(
            values[catalog_token_variable(role)],
            _pem(public),
            algorithms=["RS256"],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
        )
        assert claims["upn"] == str(role)


def test_completing_again_changes_nothing_and_a_new_password_is_rendered(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    first = complete_env_file(env_file)
    assert complete_env_file(env_file) == first  # stable: compose recreates no container for nothing
    text = env_file.read_text().replace(first["SCRAPREDIS_PRODUCER_PASSWORD"], "a-new-producer-password")
    env_file.write_text(text)
    again = complete_env_file(env_file)
    digest = hashlib.sha256(b"a-new-producer-password").hexdigest()
    assert f"user producer on #{digest} " in base64.b64decode(again["SCRAPREDIS_ACL"]).decode()
    assert again[catalog_token_variable(Role.WRITER)] == first[catalog_token_variable(Role.WRITER)]


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"
