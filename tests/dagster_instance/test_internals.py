"""The non-public Dagster names the project relies on (dagster_instance/internals.py) still exist with the
shape its run launchers use. A Dagster upgrade that moves or changes one fails here, naming it."""

from __future__ import annotations

import inspect

from dagster_instance import internals


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_code_server_s_run_entry_point_takes_what_the_forkserver_launcher_passes() -> None:
    # ForkserverRunLauncher.launch_run: Process(target=start_run_in_subprocess, args=[...these four...]).
    assert parameters(internals.start_run_in_subprocess) == [
        "serialized_execute_run_args",
        "recon_pipeline",
        "event_queue",
        "termination_event",
    ]
    assert internals.ExecuteExternalJobArgs._fields == ("job_origin", "run_id", "instance_ref")  # type: ignore[attr-defined]
    assert parameters(internals.recon_job_from_origin) == ["origin"]
    # The messages the launcher reads from the child's queue.
    assert "message" in internals.IPCErrorMessage._fields  # type: ignore[attr-defined]
    assert inspect.isclass(internals.RunInSubprocessComplete)


def test_the_run_launcher_interface_is_what_the_launchers_implement() -> None:
    assert internals.RunLauncher.__abstractmethods__ == frozenset({"launch_run", "terminate"})
    for hook in ("check_run_worker_health", "supports_check_run_worker_health", "join"):
        assert hasattr(internals.RunLauncher, hook), hook
    assert "dagster_run" in internals.LaunchRunContext._fields  # type: ignore[attr-defined]
    assert parameters(internals.CheckRunHealthResult)[:2] == ["status", "msg"]
    assert "run_worker_id" in parameters(internals.CheckRunHealthResult)
    assert {"RUNNING", "NOT_FOUND"} <= {status.name for status in internals.WorkerStatus}


def test_dagster_yaml_can_still_configure_a_class_it_names() -> None:
    assert internals.ConfigurableClass.__abstractmethods__ == frozenset(
        {"inst_data", "config_type", "from_config_value"}
    )
    assert inspect.isclass(internals.ConfigurableClassData)
