"""The Dagster instance for the embedded stack: `$LAKE_HOME/dagster/dagster.yaml`, and the environment
`dagster` commands need (`lake dagster dev`, `lake dagster asset materialize ...`).

Storage is PostgreSQL (the stack's `dagster` database). Runs use the DefaultRunCoordinator: the
queued coordinator's daemon hop costs seconds a run, which matters at minute cadence;
for the same reason they fork from a warm process (dagster_instance.forkserver_launcher).
"""

from __future__ import annotations

import os
from pathlib import Path

from lake.settings import LakeSettings, SettingsError

DAGSTER_YAML = """\
# Written by `lake dagster`: the embedded stack's Dagster instance. The storage URL comes from the
# environment (LAKE_DAGSTER__POSTGRES_URL, in $LAKE_HOME/lake.env), never from this file.
storage:
  postgres:
    postgres_url:
      env: LAKE_DAGSTER__POSTGRES_URL
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
# Runs fork from a warm process that imported Dagster once, not a fresh interpreter per run: seconds
# per minute slot (dagster_instance/forkserver_launcher.py).
run_launcher:
  module: dagster_instance.forkserver_launcher
  class: ForkserverRunLauncher
# The daemon fails a run whose worker died (killed with the platform, or the machine restarted): an
# Airflow task waiting on it then fails and retries instead of waiting for a run that cannot end.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 30
# Steps that write one Iceberg table take turns: each Spark table asset has the pool `iceberg/<table>`
# (lake_assets/wap.py), and two runs publishing one table through write-audit-publish would conflict at
# the Nessie merge. Each pool here names one table, so a limit of one means one writer per table.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def prepare(settings: LakeSettings) -> Path:
    if settings.dagster.postgres_url is None:
        raise SettingsError(
            "LAKE_DAGSTER__POSTGRES_URL is not set: start the embedded stack (`lake stack up`) "
            "or point it at your PostgreSQL"
        )
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return home


def environment(settings: LakeSettings, env_file: Path | None = None) -> dict[str, str]:
    """The process environment for a `dagster` command against this instance and these settings."""
    home = prepare(settings)
    assert settings.dagster.postgres_url is not None
    env = dict(os.environ) | {
        "DAGSTER_HOME": str(home),
        "LAKE_DAGSTER__POSTGRES_URL": settings.dagster.postgres_url.get_secret_value(),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    if env_file is not None:
        env["LAKE_ENV_FILE"] = str(env_file)
    return env
