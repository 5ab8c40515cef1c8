"""Every control plane of the embedded stack asks who is calling, and each identity holds only the rights
lake.access gives it: the job queue (Redis ACLs), the S3 store (per-role keys), the catalog (Nessie's bearer
tokens and authorization rules). Each refusal is checked with the message its caller sees.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import psutil
import pyarrow as pa
import pytest
import redis
import requests
from pyiceberg.exceptions import ServerError, UnauthorizedError

from lake.access import Role
from lake.branches import NessieApiError, NessieBranches
from lake.catalog import open_catalog
from lake.catalog_config import nessie_api_uri
from lake.settings import LakeSettings, load_settings
from lake.storage import s3_client
from lake_tools.doctor import check_catalog, check_redis, check_s3
from lake_tools.stack import Stack
from lake_tools.tokens import new_signing_key, sign
from scrapworker.queue import JobQueue
from tests.support import clean_environ, generated_secrets, secrets_found_in

SCRAPWORKER = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "scrapworker")


@pytest.fixture(scope="module")
def as_role(stack: Stack, lake_settings: LakeSettings) -> dict[str, LakeSettings]:
    """The settings each kind of process runs with: the operator's `lake.env` and each identity's file."""
    found = {"operator": lake_settings}
    found |= {name: load_settings(env_file=stack.identity_env_file(name)) for name in ("crawler", "dagster", "reader")}
    found["maintenance"] = found["dagster"].as_maintenance()
    return found


def _with(settings: LakeSettings, section: str, **changes: str) -> LakeSettings:
    """`settings` with one section's fields replaced (secrets given as plain strings)."""
    section_model = getattr(settings, section)
    part = section_model.model_validate(section_model.model_dump() | changes)
    return settings.model_copy(update={section: part})


# -- the job queue -----------------------------------------------------------------------------------
def _redis(settings: LakeSettings, user: str | None = None, password: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(settings.queue.url, username=user, password=password, protocol=2)


def test_redis_refuses_an_anonymous_client(as_role: dict[str, LakeSettings]) -> None:
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        _redis(as_role["operator"]).ping()


def test_redis_refuses_a_wrong_password(as_role: dict[str, LakeSettings]) -> None:
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair or user is disabled"):
        _redis(as_role["crawler"], "crawler", "not-the-password").ping()


def test_a_worker_cannot_flush_configure_or_touch_keys_outside_the_queue(as_role: dict[str, LakeSettings]) -> None:
    queue = as_role["crawler"].queue
    assert queue.username == str(Role.CRAWLER) and queue.password is not None
    client = _redis(as_role["crawler"], queue.username, queue.password.get_secret_value())
    assert client.ping()
    with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to run the 'flushall' command"):
        client.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError, match=r"no permissions to run the 'config\|get' command"):
        client.config_get("*")
    with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to run the 'keys' command"):
        client.keys("*")
    with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to access one of the keys"):
        client.set("elsewhere:key", "1")


def test_a_producer_enqueues_but_cannot_touch_the_workers_keys(as_role: dict[str, LakeSettings]) -> None:
    from tests.scrapworker.test_queue import spec

    settings = as_role["dagster"]
    assert settings.queue.username == str(Role.PRODUCER)
    queue = JobQueue.from_settings(settings.queue, prefix=f"scrapworker-acl{secrets.token_hex(3)}")
    assert queue.enqueue(spec("acl-job")).state.value == "queued"
    with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to access one of the keys"):
        queue.redis.lpush(queue.key("dead"), "forged")  # the dead letters are the workers' to write
    operator = JobQueue.from_settings(as_role["operator"].queue, prefix=queue.prefix)
    assert operator.status("acl-job") is not None
    for key in operator.redis.scan_iter(f"{queue.prefix}:*"):
        operator.redis.delete(key)


def test_a_bad_queue_password_is_one_line_naming_the_settings(stack: Stack) -> None:
    env = clean_environ(LAKE_ENV_FILE=str(stack.identity_env_file("crawler")), LAKE_QUEUE__PASSWORD="wrong")
    result = subprocess.run([SCRAPWORKER, "status", "any-job"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "refused user crawler" in result.stderr and "LAKE_QUEUE__PASSWORD" in result.stderr


# -- S3 ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def warehouse_object(as_role: dict[str, LakeSettings]) -> Iterator[str]:
    key = f"access-test/{secrets.token_hex(4)}.txt"
    s3_client(as_role["operator"]).put_object(Bucket="warehouse", Key=key, Body=b"table data")
    yield key
    s3_client(as_role["operator"]).delete_object(Bucket="warehouse", Key=key)


def _refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(*args, **kwargs)  # type: ignore[operator]
    error = refused.value.response["Error"]
    return f"{error.get('Code')}: {error.get('Message')}"


def test_s3_refuses_anonymous_requests(as_role: dict[str, LakeSettings], warehouse_object: str) -> None:
    endpoint = as_role["operator"].s3.endpoint
    read = requests.get(f"{endpoint}/warehouse/{warehouse_object}", timeout=10)
    write = requests.put(f"{endpoint}/raw/anonymous.txt", data=b"x", timeout=10)
    for answer in (read, write):
        assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text, answer.text


def test_the_crawler_writes_raw_and_cannot_delete_or_write_the_warehouse(
    as_role: dict[str, LakeSettings], warehouse_object: str
) -> None:
    crawler = s3_client(as_role["crawler"], retries=1)
    crawler.put_object(Bucket="raw", Key="access-test/page.json", Body=b"[]")
    assert crawler.get_object(Bucket="raw", Key="access-test/page.json")["Body"].read() == b"[]"
    assert _refused(crawler.delete_object, Bucket="warehouse", Key=warehouse_object) == "AccessDenied: Access Denied."
    assert _refused(crawler.put_object, Bucket="warehouse", Key="x", Body=b"x") == "AccessDenied: Access Denied."
    assert _refused(crawler.get_object, Bucket="warehouse", Key=warehouse_object) == "AccessDenied: Access Denied."


def test_the_reader_reads_the_warehouse_and_cannot_put_into_raw(
    as_role: dict[str, LakeSettings], warehouse_object: str
) -> None:
    reader = s3_client(as_role["reader"], retries=1)
    assert reader.get_object(Bucket="warehouse", Key=warehouse_object)["Body"].read() == b"table data"
    assert _refused(reader.put_object, Bucket="raw", Key="binance/x.json", Body=b"x") == "AccessDenied: Access Denied."
    assert _refused(reader.delete_object, Bucket="warehouse", Key=warehouse_object) == "AccessDenied: Access Denied."


def test_the_writer_reads_raw_but_cannot_change_it(as_role: dict[str, LakeSettings]) -> None:
    writer = s3_client(as_role["dagster"], retries=1)
    s3_client(as_role["crawler"]).put_object(Bucket="raw", Key="access-test/landed.json", Body=b"[1]")
    assert writer.get_object(Bucket="raw", Key="access-test/landed.json")["Body"].read() == b"[1]"
    assert _refused(writer.delete_object, Bucket="raw", Key="access-test/landed.json") == "AccessDenied: Access Denied."


def test_a_bad_s3_secret_is_one_line_naming_the_settings(as_role: dict[str, LakeSettings]) -> None:
    from lake_tools.doctor import CheckFailedError

    with pytest.raises(CheckFailedError) as failed:
        check_s3(_with(as_role["crawler"], "s3", secret_access_key="wrong"))
    assert "lake-crawler" in failed.value.detail
    assert failed.value.remedy == "check LAKE_S3__ACCESS_KEY_ID / LAKE_S3__SECRET_ACCESS_KEY"


# -- the catalog -------------------------------------------------------------------------------------
def test_nessie_refuses_anonymous_clients_on_both_apis(as_role: dict[str, LakeSettings]) -> None:
    settings = as_role["operator"]
    iceberg = requests.get(f"{settings.catalog.uri}/v1/config", params={"warehouse": "warehouse"}, timeout=10)
    nessie = requests.get(f"{nessie_api_uri(settings)}/trees", timeout=10)
    for answer in (iceberg, nessie):
        assert answer.status_code == 401 and answer.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_the_reader_reads_tables_and_cannot_commit(as_role: dict[str, LakeSettings], unique_name: str) -> None:
    table = f"seed.{unique_name}"
    open_catalog(as_role["operator"]).create_table(table, schema=pa.schema([("v", pa.int64())]))
    reader = open_catalog(as_role["reader"])
    assert reader.load_table(table).scan().to_arrow().num_rows == 0
    with pytest.raises(ServerError, match="'CREATE_ENTITY' is not allowed for role 'reader'"):
        reader.create_namespace(f"ns_{unique_name}")
    with pytest.raises(OSError, match="ACCESS_DENIED during CreateMultipartUpload"):  # its data, before any commit
        reader.load_table(table).append(pa.table({"v": [1]}))
    with pytest.raises(NessieApiError) as refused:
        NessieBranches.from_settings(as_role["reader"]).create_branch(f"r-{unique_name[:20]}", "main")
    assert refused.value.status == 403 and "'CREATE_REFERENCE' is not allowed for role 'reader'" in str(refused.value)


def test_only_maintenance_deletes_references_beyond_the_writer_s_own(
    as_role: dict[str, LakeSettings], unique_name: str
) -> None:
    writer = NessieBranches.from_settings(as_role["dagster"])
    suffix = secrets.token_hex(3)
    audit, other = writer.create_branch(f"wap-acl-{suffix}", "main"), writer.create_branch(f"dev-{suffix}", "main")
    with pytest.raises(NessieApiError) as refused:
        writer.delete_branch(other.name, other.hash)
    assert refused.value.status == 403
    assert f"'DELETE_REFERENCE' is not allowed for role 'writer' on reference '{other.name}'" in str(refused.value)
    writer.delete_branch(audit.name, audit.hash)  # its own write-audit-publish branch
    NessieBranches.from_settings(as_role["maintenance"]).delete_branch(other.name, other.hash)
    assert {branch.name for branch in writer.branches()}.isdisjoint({audit.name, other.name})


def test_the_writer_cannot_drop_a_table(as_role: dict[str, LakeSettings], unique_name: str) -> None:
    table = f"seed.{unique_name}"
    open_catalog(as_role["operator"]).create_table(table, schema=pa.schema([("v", pa.int64())]))
    with pytest.raises(ServerError, match="'DELETE_ENTITY' is not allowed for role 'writer'"):
        open_catalog(as_role["dagster"]).drop_table(table)
    open_catalog(as_role["maintenance"]).drop_table(table)


@pytest.mark.parametrize("kind", ["expired", "foreign"])
def test_a_bad_catalog_token_is_refused_and_named_in_one_line(
    stack: Stack, as_role: dict[str, LakeSettings], kind: str
) -> None:
    from lake_tools.doctor import CATALOG_CREDENTIAL_REMEDY, CheckFailedError

    key = stack.secrets().catalog_signing_key if kind == "expired" else new_signing_key()
    token = sign(key, str(Role.READER), lifetime_seconds=60, now=0 if kind == "expired" else None)
    settings = _with(as_role["reader"], "catalog", token=token)
    with pytest.raises(UnauthorizedError, match="Unauthorized"):
        open_catalog(settings)
    with pytest.raises(CheckFailedError) as failed:
        check_catalog(settings)
    assert failed.value.remedy == CATALOG_CREDENTIAL_REMEDY and "LAKE_CATALOG__TOKEN" in CATALOG_CREDENTIAL_REMEDY
    assert "\n" not in failed.value.detail


def test_doctor_names_the_queue_settings_for_a_bad_password(as_role: dict[str, LakeSettings]) -> None:
    from lake_tools.doctor import CheckFailedError

    with pytest.raises(CheckFailedError) as failed:
        check_redis(_with(as_role["crawler"], "queue", password="wrong"))
    assert failed.value.remedy == "check LAKE_QUEUE__USERNAME / LAKE_QUEUE__PASSWORD"
    assert "refused user crawler" in failed.value.detail


# -- no secret where others can read it ----------------------------------------------------------------
def test_no_secret_in_the_stack_s_logs_or_command_lines(stack: Stack) -> None:
    """Every secret the stack generated (passwords, S3 keys, the signing key, each identity's token) is
    absent from every log file it wrote and every command line of its processes."""
    found_secrets = generated_secrets(stack)
    logs = [path for path in stack.layout.log_dir.rglob("*") if path.is_file()]
    assert logs, "the stack wrote no logs"
    command_lines = {}
    for process, _ in stack.processes():
        pid = process.pid()
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                command_lines[process.name] = " ".join(psutil.Process(pid).cmdline())
    assert len(command_lines) >= 4
    assert not secrets_found_in(found_secrets, logs, command_lines)


def test_lake_query_reads_as_the_reader_and_names_a_bad_token(
    stack: Stack, as_role: dict[str, LakeSettings], unique_name: str
) -> None:
    from lake_tools.query import QueryError, query

    table = open_catalog(as_role["operator"]).create_table(f"seed.{unique_name}", schema=pa.schema([("v", pa.int64())]))
    table.append(pa.table({"v": [1, 2]}))
    columns, rows = query(as_role["reader"], f"SELECT count(*) AS n FROM seed.{unique_name}")
    assert columns == ["n"] and rows == [(2,)]
    expired = sign(stack.secrets().catalog_signing_key, str(Role.READER), lifetime_seconds=60, now=0)
    with pytest.raises(QueryError) as refused:
        query(_with(as_role["reader"], "catalog", token=expired), "SELECT 1")
    assert "401" in str(refused.value) and str(refused.value).endswith(
        "(check LAKE_CATALOG__TOKEN or LAKE_CATALOG__CREDENTIAL)"
    )
    assert "\n" not in str(refused.value)
