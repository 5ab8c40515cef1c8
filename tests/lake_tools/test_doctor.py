"""`lake doctor` on misconfigurations that do not need a broken stack: each names the fault and a remedy."""

from __future__ import annotations

import shutil
from pathlib import Path

from lake.settings import LakeSettings
from lake_tools.doctor import Check, run_checks


def by_name(checks: list[Check], name: str) -> Check:
    return next(check for check in checks if check.component == name)


def test_all_required_components_pass_on_the_embedded_stack(lake_settings: LakeSettings) -> None:
    checks = run_checks(lake_settings)
    assert [c.component for c in checks if c.required and not c.ok] == []


def test_worker_python_of_another_minor_version_is_a_failure(lake_settings: LakeSettings, tmp_path: Path) -> None:
    other = shutil.which("python3.11") or "/root/.pyenv/versions/3.11.7/bin/python3.11"
    fake = tmp_path / "python-other"
    # A worker interpreter that reports another minor version, as a cluster with Python 3.11 would.
    fake.write_text(f'#!/bin/sh\nexec {other} "$@"\n' if Path(other).exists() else "#!/bin/sh\necho 3.11\n")
    fake.chmod(0o755)
    settings = lake_settings.model_copy(update={"spark": lake_settings.spark.model_copy(update={"python": fake})})
    check = by_name(run_checks(settings), "PySpark Python")
    assert not check.ok and check.required
    assert "driver 3.12 vs worker 3.11" in check.detail
    assert "LAKE_SPARK__PYTHON" in check.remedy


def test_missing_spark_jars_point_at_the_provisioning_command(lake_settings: LakeSettings, tmp_path: Path) -> None:
    settings = lake_settings.model_copy(
        update={"spark": lake_settings.spark.model_copy(update={"jars_dir": tmp_path / "none"})}
    )
    check = by_name(run_checks(settings), "Spark jars")
    assert not check.ok
    assert "python -m lake_tools.jars" in check.remedy


def test_unreachable_optional_services_warn_without_failing(lake_settings: LakeSettings) -> None:
    settings = lake_settings.model_copy(
        update={"dagster": lake_settings.dagster.model_copy(update={"url": "http://127.0.0.1:9"})}
    )
    check = by_name(run_checks(settings), "Dagster webserver")
    assert not check.ok and not check.required
    assert "lake up" in check.remedy
