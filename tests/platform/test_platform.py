"""The platform as a user runs it: `lake up --offline`, Airflow's scheduler driving slot after slot through
Dagster, both UIs in a real browser (Debian's Chromium through Playwright), and `lake down`.

The tests run in file order on one platform: up, scheduling, the UIs, then down (which must leave nothing).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psutil
import pytest
import requests

from lake.catalog import open_catalog
from tests.platform.conftest import SCREENSHOTS, RunningPlatform
from tests.support import generated_secrets, kline_symbols, secrets_found_in, shipped_landings, wait_for

LANDINGS = shipped_landings()

pytestmark = pytest.mark.platform

COMPONENTS = [
    "market-simulator",
    "scrapworker-1",
    "dagster-webserver",
    "dagster-daemon",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
]
STACK = ["postgres", "redis", "seaweedfs", "nessie"]
SEED_DAGS = ["spark_static_data_v1_skeleton", "spark_static_data_v2_submit", "spark_partitioned_data_v1"]
SCRAPER, TYPED = "scraper_pipeline_v1", "scraper_typed_v1"
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


# -- lake up ---------------------------------------------------------------------------------------
def test_lake_up_reports_each_component_healthy_and_how_to_log_in(platform: RunningPlatform) -> None:
    output = platform.up_output
    for name in STACK:
        assert f"stack: {name}: started" in output
    for name in COMPONENTS:
        assert re.search(rf"^{name}: healthy, pid \d+ \([\d.]+ s\)$", output, re.MULTILINE), name
    assert "airflow: the bridge DAGs are loaded" in output
    assert f"Dagster  {platform.dagster_url}" in output and f"Airflow  {platform.airflow_url}" in output
    assert "password: cat " in output and platform.airflow_password not in output  # where it is, never what it is
    status = platform.lake("status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[0] for line in lines] == STACK + COMPONENTS
    assert all(line.split()[1] == "running" for line in lines)
    assert f"{platform.dagster_url}" in status.stdout and f"{platform.airflow_url}" in status.stdout


def test_everything_it_started_listens_on_loopback_only(platform: RunningPlatform) -> None:
    listening = {
        (connection.laddr.ip, connection.laddr.port, process.name())
        for process in platform.processes()
        for connection in _connections(process)
        if connection.status == psutil.CONN_LISTEN
    }
    ports = {port for _, port, _ in listening}
    assert int(platform.dagster_url.rsplit(":", 1)[1]) in ports and int(platform.airflow_url.rsplit(":", 1)[1]) in ports
    assert {(ip, port, name) for ip, port, name in listening if ip not in LOOPBACK} == set()
    # No log server: the scheduler and triggerer would serve logs on every interface (8793/8794).
    assert not ports & {8793, 8794}


def _cmdline(process: psutil.Process) -> list[str]:
    """A finished run worker can be a zombie for a moment: it has no command line left to read."""
    try:
        return list(process.cmdline())
    except psutil.Error:
        return []


def _connections(process: psutil.Process) -> list[Any]:
    try:
        return list(process.net_connections(kind="inet"))
    except psutil.Error:
        return []


def test_lake_up_again_leaves_the_running_platform_alone(platform: RunningPlatform) -> None:
    before = {line.split()[0]: line.split()[3] for line in platform.lake("status").stdout.splitlines()}
    again = platform.lake("up", "--offline")
    assert again.returncode == 0, again.stdout + again.stderr
    for name in STACK + COMPONENTS:
        assert re.search(rf"^(stack: )?{name}: already running, pid {before[name]}$", again.stdout, re.MULTILINE), name


# -- Airflow's scheduler drives the slots -----------------------------------------------------------
@dataclass(frozen=True)
class ScheduledSlot:
    airflow_run_id: str
    key: str  # the Dagster partition
    start: datetime


@pytest.fixture(scope="module")
def scheduled(platform: RunningPlatform) -> Iterator[list[ScheduledSlot]]:
    """Unpause the scraper DAG through Airflow's REST API and wait for consecutive scheduled runs to succeed
    on their own; then the typed DAG, once the slots it will cover have landed. Nothing is triggered."""
    platform.airflow("PATCH", f"/dags/{SCRAPER}", json={"is_paused": False})

    def consecutive_successes() -> list[dict[str, Any]] | None:
        runs = platform.airflow("GET", f"/dags/{SCRAPER}/dagRuns", params={"limit": 100})["dag_runs"]
        runs = sorted(runs, key=lambda r: r["data_interval_start"])
        done = [r for r in runs if r["run_type"] == "scheduled" and r["state"] == "success"]
        return done[-3:] if len(done) >= 3 else None

    runs = wait_for(consecutive_successes, 420, "three scheduled scraper runs to succeed")
    slots = [
        ScheduledSlot(r["dag_run_id"], _key(r["data_interval_start"]), _when(r["data_interval_start"])) for r in runs
    ]
    # Three slots landed: the typed DAG's first interval (2 minutes) now covers landed slots only.
    platform.airflow("PATCH", f"/dags/{TYPED}", json={"is_paused": False})
    try:
        yield slots
    finally:
        # The module's last test stops the platform itself: then there is nothing left to pause.
        with contextlib.suppress(requests.ConnectionError):
            for dag in (SCRAPER, TYPED):
                platform.airflow("PATCH", f"/dags/{dag}", json={"is_paused": True})


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _key(text: str) -> str:
    return _when(text).strftime("%Y-%m-%d-%H:%M")


RUNS = """query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { ... on Runs { results {
  runId status tags { key value } } } ... on PythonError { message } } }"""
CHECKS = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename ... on AssetCheckEvaluationEvent { evaluation { checkName success } } } } } }"""


def dagster_runs(platform: RunningPlatform, **tags: str) -> list[dict[str, Any]]:
    found = platform.dagster(RUNS, {"tags": [{"key": k.replace("__", "/"), "value": v} for k, v in tags.items()]})
    runs: list[dict[str, Any]] = found["runsOrError"]["results"]
    return runs


def check_results(platform: RunningPlatform, run_id: str) -> dict[str, bool]:
    events = platform.dagster(CHECKS, {"runId": run_id})["logsForRun"]["events"]
    return {
        e["evaluation"]["checkName"]: e["evaluation"]["success"]
        for e in events
        if e["__typename"] == "AssetCheckEvaluationEvent"
    }


def test_airflow_schedules_consecutive_slots_through_dagster(
    platform: RunningPlatform, scheduled: list[ScheduledSlot]
) -> None:
    # Consecutive: each slot starts where the one before ended.
    assert [b.start - a.start for a, b in itertools.pairwise(scheduled)] == [timedelta(minutes=1)] * 2
    catalog = open_catalog(platform.settings)
    signals = catalog.load_table("landing.signals")
    for slot in scheduled:
        # One Dagster run per slot, tagged with the Airflow run that launched it, carrying the chain.
        # (Run ids are unique per DAG only: the typed DAG's runs at even minutes share them.)
        runs = dagster_runs(platform, airflow__dag_id=SCRAPER, airflow__run_id=slot.airflow_run_id)
        assert len(runs) == 1, [_described(platform, r) for r in runs]
        [run] = runs
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert run["status"] == "SUCCESS" and tags["dagster/partition"] == slot.key
        assert tags["airflow/dag_id"] == SCRAPER and tags["airflow/task_id"] == "materialize"
        assert check_results(platform, run["runId"]) == {
            "signals_complete": True,
            "landing_matches_signal": True,
            "no_null_partitions": True,
        }
        when = slot.start
        rows = signals.scan(row_filter=f"ds == '{when:%Y-%m-%d}' and hr == {when.hour} and min == {when.minute}")
        jobs = sorted(rows.to_arrow().column("job_id").to_pylist())  # one signal per landing
        expected = [
            f"{landing.endpoint}.{'-'.join(map(str, p.values()))}" for landing in LANDINGS for p in landing.param_sets
        ]
        assert sorted(".".join(job.split(".")[1:3]) for job in jobs) == sorted(expected), jobs

    # The typed table: the typed DAG's scheduled runs type the landed slots, one run per interval.
    def typed_runs_covering_the_slots() -> list[dict[str, Any]] | None:
        runs = [r for r in dagster_runs(platform, airflow__dag_id=TYPED) if r["status"] == "SUCCESS"]
        ends = [_range(r)[1] for r in runs]
        return runs if any(end >= scheduled[-1].key for end in ends) else None

    typed = wait_for(typed_runs_covering_the_slots, 420, "a typed run covering the scheduled slots")
    klines = catalog.load_table("market.klines")
    covered = [slot for slot in scheduled if any(_range(r)[0] <= slot.key <= _range(r)[1] for r in typed)]
    assert len(covered) >= 2, (covered, [_range(r) for r in typed])
    for slot in covered:
        end = slot.start + timedelta(minutes=1)
        window = f"open_time >= '{slot.start.isoformat()}' and open_time < '{end.isoformat()}'"
        assert klines.scan(row_filter=window).to_arrow().num_rows == kline_symbols()  # one per symbol per minute
    for run in typed:
        assert check_results(platform, run["runId"]) == {"no_null_partitions": True, "typed_rows_committed": True}
    for dag in (SCRAPER, TYPED):  # seen enough: the UIs below look at these runs on a quiet machine
        platform.airflow("PATCH", f"/dags/{dag}", json={"is_paused": True})


def _described(platform: RunningPlatform, run: dict[str, Any]) -> str:
    """A run in one line for a failure message: id, status, the Airflow try, and why it failed if it did."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    events = platform.dagster(FAILURES, {"runId": run["runId"]})["logsForRun"]["events"]
    failures = [f"{e['__typename']}: {e['message'][:300]}" for e in events if "Failure" in e["__typename"]]
    worker, attempt = tags.get("lake/run_worker"), tags.get("airflow/try_number")
    return f"{run['runId']} {run['status']} try={attempt} worker={worker} {failures}"


FAILURES = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename ... on MessageEvent { message } } } } }"""


def _range(run: dict[str, Any]) -> tuple[str, str]:
    tags = {t["key"]: t["value"] for t in run["tags"]}
    first = tags.get("dagster/asset_partition_range_start") or tags["dagster/partition"]
    return first, tags.get("dagster/asset_partition_range_end") or first


# -- both UIs in a real browser ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # Debian's Chromium (scripts/install.sh), never a browser Playwright downloads. As root it needs
        # --no-sandbox.
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, platform: RunningPlatform, request: pytest.FixtureRequest) -> Iterator[Any]:
    # Dagster's webserver asks for a login (HTTP Basic): the browser answers its challenge as a person
    # typing into the prompt would, for Dagster's origin only.
    user, password = platform.dagster_login
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        http_credentials={"username": user, "password": password, "origin": platform.dagster_url},
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    # Dagster asks a first-time browser to join its community, over whatever page is open, whenever it
    # likes: Playwright dismisses the overlay whenever it shows up, as a user would (Skip).
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"), lambda: page.get_by_role("button", name="Skip").click()
    )
    try:
        yield page
    finally:
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-last.png"))
        context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def airflow_login(page: Any, platform: RunningPlatform) -> None:
    page.goto(f"{platform.airflow_url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(platform.airflow_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"))


def test_the_airflow_ui_lists_the_seed_dags_and_the_scraper_s_successful_runs(
    platform: RunningPlatform, scheduled: list[ScheduledSlot], page: Any
) -> None:
    airflow_login(page, platform)
    page.goto(f"{platform.airflow_url}/dags")
    for dag in [*SEED_DAGS, SCRAPER]:
        page.get_by_role("link", name=dag, exact=True).wait_for()
    shot(page, "airflow-dags")
    page.goto(f"{platform.airflow_url}/dags/{SCRAPER}/runs")
    for slot in scheduled:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=slot.airflow_run_id, exact=True))
        row.get_by_text("Success", exact=True).wait_for()
    shot(page, "airflow-scraper-runs")


def test_the_dagster_run_link_in_an_airflow_task_log_opens_that_run(
    platform: RunningPlatform, scheduled: list[ScheduledSlot], page: Any
) -> None:
    slot = scheduled[0]
    [run] = dagster_runs(platform, airflow__dag_id=SCRAPER, airflow__run_id=slot.airflow_run_id)
    airflow_login(page, platform)
    page.goto(f"{platform.airflow_url}/dags/{SCRAPER}/runs/{slot.airflow_run_id}/tasks/materialize")
    link = f"{platform.dagster_url}/runs/{run['runId']}"
    page.get_by_text(link).first.wait_for()  # the operator's log line: "Dagster run for partition ...: <link>"
    shot(page, "airflow-task-log")
    page.goto(link)
    page.get_by_text(run["runId"][:8]).first.wait_for()
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_text(slot.key).first.wait_for()  # the run's partition
    shot(page, "dagster-run-from-airflow-log")


def test_the_dagster_ui_shows_the_groups_the_lineage_and_the_materialised_slots(
    platform: RunningPlatform, scheduled: list[ScheduledSlot], page: Any
) -> None:
    page.goto(f"{platform.dagster_url}/asset-groups")
    for group in ("hello", "static", "partitioned", "scraper"):
        page.get_by_text(group, exact=True).first.wait_for()
    shot(page, "dagster-global-lineage")
    # The signal's lineage: the raw landing upstream of it, the typed klines downstream.
    page.goto(f"{platform.dagster_url}/assets/landing/signals?view=lineage&lineageScope=neighbors")
    for asset in ("raw_binance_klines", "signals", "klines"):
        page.get_by_text(asset, exact=True).first.wait_for()
    upstream, downstream = (
        page.get_by_text(name, exact=True).first.bounding_box() for name in ("raw_binance_klines", "klines")
    )
    # "signals" is also the breadcrumb and maintenance's node: one of them is drawn between the two.
    nodes = [node.bounding_box() for node in page.get_by_text("signals", exact=True).all()]
    assert any(upstream["x"] < node["x"] < downstream["x"] for node in nodes if node), (upstream, nodes, downstream)
    shot(page, "dagster-signals-lineage")
    page.goto(f"{platform.dagster_url}/assets/landing/signals?view=partitions")
    for slot in scheduled:
        page.get_by_text(slot.key, exact=True).first.wait_for(timeout=120_000)  # status of every partition
    page.get_by_text(re.compile(r"Materialized \(\d+\)")).first.wait_for()
    shot(page, "dagster-signals-partitions")


# -- who gets in ---------------------------------------------------------------------------------------
def test_dagster_and_airflow_refuse_anonymous_and_wrong_logins(platform: RunningPlatform) -> None:
    query = {"query": "{ version }"}
    anonymous = requests.post(f"{platform.dagster_url}/graphql", json=query, timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    user, password = platform.dagster_login
    wrong = requests.post(f"{platform.dagster_url}/graphql", json=query, auth=(user, password + "x"), timeout=10)
    assert wrong.status_code == 401
    assert requests.post(f"{platform.dagster_url}/graphql", json=query, auth=(user, password), timeout=10).ok
    assert requests.get(f"{platform.airflow_url}/api/v2/dags", timeout=10).status_code == 401
    login = {"username": "admin", "password": "not-the-password"}
    assert requests.post(f"{platform.airflow_url}/auth/token", json=login, timeout=10).status_code == 401


def test_the_bridge_names_its_connection_when_dagster_refuses_its_login(platform: RunningPlatform) -> None:
    from airflow_bridge.graphql import DagsterRunError
    from airflow_bridge.hooks.dagster import DagsterHook, Endpoint

    hook = DagsterHook()
    login = base64.b64encode(b"airflow-bridge:not-the-password").decode()
    hook._endpoint = Endpoint(platform.dagster_url, {"Authorization": f"Basic {login}"})
    with pytest.raises(DagsterRunError) as refused:
        hook.query("{ version }", {})
    assert str(refused.value) == (
        f"Dagster at {platform.dagster_url} refused the credentials (HTTP 401): set the login and password of "
        "the Airflow connection dagster_default to an identity of Dagster's webserver"
    )


def test_no_secret_in_any_log_or_command_line_of_the_platform(platform: RunningPlatform) -> None:
    """Every log file the platform wrote (stack, workers, Dagster, Airflow and its task logs) and the command
    line of every process it started hold none of the secrets it generated."""
    from lake_tools.stack import Stack

    found = generated_secrets(Stack.for_settings(platform.settings))
    logs = [path for path in (platform.home / "logs").rglob("*") if path.is_file()]
    assert len(logs) > 10, logs
    command_lines = {f"pid {process.pid}": " ".join(_cmdline(process)) for process in platform.processes()}
    assert len(command_lines) > 10
    assert not secrets_found_in(found, logs, command_lines)


# -- lake down ---------------------------------------------------------------------------------------
def test_lake_down_stops_everything_even_a_code_server_left_behind(platform: RunningPlatform) -> None:
    # The Dagster webserver's code server, left re-parented when its parent dies without stopping it.
    pids = {line.split()[0]: int(line.split()[3]) for line in platform.lake("status").stdout.splitlines()}
    webserver = psutil.Process(pids["dagster-webserver"])
    # Its direct children only: a code server's own children are run workers forked from it (same command
    # line), which may finish at any moment; `lake down` must stop those too, as the last assertion checks.
    code_servers = [c for c in webserver.children() if "grpc" in " ".join(_cmdline(c))]
    assert code_servers, "the webserver runs its code location in a code server"
    webserver.send_signal(signal.SIGKILL)
    webserver.wait(30)
    orphans = [c for c in code_servers if c in platform.processes()]  # live, not zombies
    assert orphans, "the code server outlives the webserver it was started by"
    status = platform.lake("status")
    assert status.returncode == 1 and re.search(r"^dagster-webserver\s+died", status.stdout, re.MULTILINE)
    # A process that only looks like a component (its command line names Dagster's daemon and redis-server,
    # in no session `lake up` started): `down` stops by recorded PID and session, never by name.
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "dagster._daemon", "run", "redis-server"],
        start_new_session=True,
    )
    try:
        down = platform.lake("down")
        assert bystander.poll() is None, "lake down stopped a process it did not start"
    finally:
        bystander.kill()
        bystander.wait()
    assert down.returncode == 0, down.stdout + down.stderr
    assert "dagster-webserver: had already died" in down.stdout
    left = [(p.pid, " ".join(_cmdline(p))[:120]) for p in platform.processes()]
    assert left == []
