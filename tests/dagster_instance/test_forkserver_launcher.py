"""dagster_instance.forkserver_launcher on the embedded instance (PostgreSQL): what its runs need before they start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading

import pytest
from dagster import DagsterInstance

from dagster_instance.forkserver_launcher import DEFAULT_PRELOAD
from dagster_instance.pools import ensure_pools
from lake.settings import LakeSettings
from lake_tools import dagster_home


def test_new_pools_get_their_default_limit_once_whoever_launches_at_once(
    lake_settings: LakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster's own first claim of a new pool fails a run on PostgreSQL when another run claims it at the
    # same moment; launchers (the webserver's, the daemon's) creating it together must not fail.
    assert lake_settings.dagster.postgres_url is not None
    monkeypatch.setenv("LAKE_DAGSTER__POSTGRES_URL", lake_settings.dagster.postgres_url.get_secret_value())
    home = dagster_home.prepare(lake_settings)
    instances = [DagsterInstance.from_config(str(home)) for _ in range(4)]
    pools = {f"iceberg/t_{secrets.token_hex(4)}_{n}" for n in range(8)}
    start, errors = threading.Barrier(len(instances)), []

    def launcher(instance: DagsterInstance) -> None:
        start.wait()
        try:
            ensure_pools(instance, pools)
        except Exception as exc:  # any error is the finding
            errors.append(repr(exc))

    threads = [threading.Thread(target=launcher, args=(instance,)) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    limits = {p.name: (p.limit, p.from_default) for p in instances[0].event_log_storage.get_pool_limits()}
    assert {pool: limits.get(pool) for pool in pools} == dict.fromkeys(pools, (1, True))
    for instance in instances:
        instance.dispose()


def test_the_forkserver_warms_boto3_without_touching_the_network() -> None:
    """The forkserver imports dagster_instance.forkserver_warm before it forks runs. After it, a run's S3 client
    (lake.storage.s3_client) must read no model file; and the warm-up must open no connection, nor walk
    botocore's credential chain (which could ask an instance-metadata endpoint)."""
    assert DEFAULT_PRELOAD[-1] == "dagster_instance.forkserver_warm"
    probe = """
import socket
def refuse(*args, **kwargs):
    raise AssertionError(f"connection attempted: {args}")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = refuse
import dagster_instance.forkserver_warm
import botocore.loaders
def no_file(loader, path):
    raise AssertionError(f"a run's client read {path}")
botocore.loaders.JSONFileLoader.load_file = no_file
from lake.settings import LakeSettings
from lake.storage import s3_client
s3_client(LakeSettings.model_validate({"s3": {"endpoint": "http://127.0.0.1:9", "access_key_id": "fake-id",
                                               "secret_access_key": "fake-secret"}}))
print("warm")
"""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAKE_"))}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "warm", result.stderr[-2000:]
