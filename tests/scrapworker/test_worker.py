"""`scrapworker run` end to end: real worker processes, real Redis and S3, the market-API simulator.

Each test starts its own simulator and queue prefix, and workers as subprocesses exactly as an operator
would (`scrapworker run`), stopping them by PID.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from lake.settings import LakeSettings
from lake.storage import read_manifest, s3_client
from lake_contracts.manifest import Manifest
from lake_tools.stack import Stack
from market_sim import MarketSimulator, SimulatorConfig
from scrapworker.endpoints import BUILTIN_CONFIG
from scrapworker.landing import LandingWriter, landing_prefix, manifest_key_of
from scrapworker.protocol import JobSpec, JobState, JobStatus
from scrapworker.queue import JobQueue
from tests.scrapworker.cuttable_proxy import CuttableProxy
from tests.scrapworker.hostile import account, drained, hostile_message
from tests.support import clean_environ, free_port, generated_secrets, secrets_found_in, wait_for_fresh_window

SCRAPWORKER = str(Path(sys.executable).parent / "scrapworker")
KLINES = "/api/v3/klines"
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
# A past window, so the simulator has every kline of it.
DAY = datetime(2026, 10, 1, tzinfo=UTC)


class Harness:
    """A simulator, a queue prefix, and the environment that points workers at both."""

    def __init__(self, settings: LakeSettings, simulator: MarketSimulator, tmp_path: Path) -> None:
        self.settings = settings
        self.simulator = simulator
        self.tmp_path = tmp_path
        self.prefix = f"scrapworker-w{secrets.token_hex(4)}"
        self.queue = JobQueue.from_settings(settings.queue, prefix=self.prefix, lease_seconds=2, max_attempts=3)
        self.s3 = s3_client(settings)
        self.env = clean_environ(
            # The workers run as the crawler identity, as `lake up` starts them.
            LAKE_ENV_FILE=str(settings.home / "identities" / "crawler.env"),
            LAKE_QUEUE__PREFIX=self.prefix,
            LAKE_QUEUE__LEASE_SECONDS="2",
            LAKE_QUEUE__MAX_ATTEMPTS="3",
            LAKE_CRAWLER__BASE_URLS=json.dumps({"binance": simulator.base_url}),
            LAKE_CRAWLER__RETRY_TIMES="1",
            LAKE_CRAWLER__REQUEST_TIMEOUT_SECONDS="5",
            LAKE_CRAWLER__SHUTDOWN_GRACE_SECONDS="1",
        )
        self.processes: list[subprocess.Popen[bytes]] = []

    def klines_job(self, minutes: int, job_id: str | None = None, **params: Any) -> JobSpec:
        return JobSpec.model_validate(
            {
                "job_id": job_id or f"klines-{secrets.token_hex(3)}",
                "endpoint": "klines",
                "params": {"symbol": "BTCUSDT", "interval": "1m"} | params,
                "window": {"start": DAY, "end": DAY + minutes * MINUTE},
                "landing_prefix": f"tests/{self.prefix}",
            }
        )

    def start_worker(self, *extra: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [SCRAPWORKER, "run", "--concurrency", "4", *extra], env=self.env | env, stdout=log, stderr=log
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.tmp_path.glob("worker-*.log")))

    def wait(self, job_id: str, timeout: float = 60) -> JobStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.queue.wait(job_id, min(2.0, max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                if self.processes and all(process.poll() is not None for process in self.processes):
                    break  # every worker has exited: nobody will finish the job
        pytest.fail(f"job {job_id} did not finish; worker logs:\n{self.logs()[-4000:]}")

    def land(self, job: JobSpec) -> tuple[JobStatus, Manifest]:
        """Queue the job, start a worker, and return its status and manifest once it has succeeded."""
        self.queue.enqueue(job)
        self.start_worker()
        status = self.wait(job.job_id)
        assert status.state is JobState.SUCCEEDED, status.error
        manifest = self.manifest(status)
        assert manifest is not None
        return status, manifest

    def manifest(self, status: JobStatus) -> Manifest | None:
        return read_manifest(self.s3, self.settings.s3.raw_bucket, status.outputs.get("manifest_key", "-"))

    def page_bodies(self, manifest: Manifest) -> list[bytes]:
        return [
            self.s3.get_object(Bucket=self.settings.s3.raw_bucket, Key=page.key)["Body"].read()
            for page in manifest.pages
        ]

    def landed_rows(self, manifest: Manifest) -> list[list[Any]]:
        return [row for body in self.page_bodies(manifest) for row in json.loads(body)]

    def landed_open_times(self, manifest: Manifest) -> list[int]:
        return [row[0] for row in self.landed_rows(manifest)]

    def served(self, path: str = KLINES, status: int = 200) -> list[Any]:
        return [r for r in self.simulator.stats().requests if r.path == path and r.status == status]


@contextmanager
def harness_for(settings: LakeSettings, tmp_path: Path, config: SimulatorConfig | None = None) -> Iterator[Harness]:
    simulator = MarketSimulator(config or SimulatorConfig())
    simulator.start()
    harness = Harness(settings, simulator, tmp_path)
    try:
        yield harness
    finally:
        harness.stop_all()
        simulator.stop()
        for key in harness.queue.redis.scan_iter(f"{harness.prefix}:*"):
            harness.queue.redis.delete(key)


@pytest.fixture
def harness(lake_settings: LakeSettings, tmp_path: Path) -> Iterator[Harness]:
    with harness_for(lake_settings, tmp_path) as made:
        yield made


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_multi_page_window_lands_every_page_exactly_once(harness: Harness) -> None:
    status, manifest = harness.land(harness.klines_job(minutes=2500))  # 1000 + 1000 + 500 one-minute klines
    served = harness.served()
    assert manifest.page_count == len(served) == 3
    assert manifest.records == sum(r.rows for r in served) == 2500
    assert [page.records for page in manifest.pages] == [r.rows for r in served]
    assert status.outputs["records"] == 2500 and status.outputs["pages"] == 3
    expected = [int((DAY + i * MINUTE).timestamp() * 1000) for i in range(2500)]
    assert harness.landed_open_times(manifest) == expected  # every kline once, in order


def test_a_kline_still_open_at_the_exchange_never_lands_and_a_recrawl_is_byte_identical(harness: Harness) -> None:
    """A window reaching past the exchange's clock (as a crawler whose clock runs ahead would ask) meets the
    simulator's kline in progress, partial and changing. The page is asked again once that kline has closed;
    only final klines land, and crawling the window again lands the same bytes."""
    now = datetime.now(UTC).replace(microsecond=0)
    window = {"start": now - 3 * SECOND, "end": now + 3 * SECOND}
    job = JobSpec.model_validate(
        {
            "job_id": f"open-candle-{secrets.token_hex(3)}",
            "endpoint": "klines",
            "params": {"symbol": "BTCUSDT", "interval": "1s"},
            "window": window,
            "landing_prefix": f"tests/{harness.prefix}",
        }
    )
    _, manifest = harness.land(job)
    rows = harness.landed_rows(manifest)
    start_ms = int(window["start"].timestamp() * 1000)
    assert [row[0] for row in rows] == [start_ms + i * 1000 for i in range(6)]  # the six seconds closing in it
    assert all(row[8] == 20 for row in rows)  # every kline whole: ten aggregate trades of two, none partial
    asked = [request.params["startTime"] for request in harness.served()]
    assert len(asked) > len(set(asked)), "the page holding the open kline was not asked again"
    assert "holds a row closing at" in harness.logs()

    pages = harness.page_bodies(manifest)
    harness.queue.enqueue(job, rerun=True)
    rerun = harness.wait(job.job_id)
    assert rerun.state is JobState.SUCCEEDED, rerun.error
    again = harness.manifest(rerun)
    assert again is not None and again.finished_at != manifest.finished_at  # crawled anew
    assert harness.page_bodies(again) == pages


def test_a_killed_worker_s_job_is_completed_by_another_after_the_lease_expires(
    lake_settings: LakeSettings, tmp_path: Path
) -> None:
    with harness_for(lake_settings, tmp_path, SimulatorConfig(latency_seconds=0.25)) as harness:
        job = harness.klines_job(minutes=11_500)  # 11 full pages and a short one, at 0.25 s each
        harness.queue.enqueue(job)
        doomed = harness.start_worker()
        wait_until(lambda: len(harness.served()) >= 3, 30, "the first worker to land a few pages")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        assert harness.queue.status(job.job_id).state is JobState.RUNNING  # type: ignore[union-attr]

        harness.start_worker()
        status = harness.wait(job.job_id)
        assert status.state is JobState.SUCCEEDED, status.error
        assert status.attempts == 2
        assert sum(line.split(" ", 1)[1].startswith("succeeded") for line in status.history) == 1
        assert any("lease expired" in line for line in status.history)

        manifest = harness.manifest(status)
        assert manifest is not None and manifest.page_count == 12 and manifest.attempt == 2
        times = harness.landed_open_times(manifest)
        assert times == [int((DAY + i * MINUTE).timestamp() * 1000) for i in range(11_500)]
        keys = harness.s3.list_objects_v2(Bucket=lake_settings.s3.raw_bucket, Prefix=status.outputs["prefix"] + "/")
        assert len(keys["Contents"]) == 13  # 12 pages and the manifest: nothing left from the killed attempt


def test_three_workers_on_one_budget_get_no_429(lake_settings: LakeSettings, tmp_path: Path) -> None:
    limit, window = 120, 2.0
    endpoints = yaml.safe_load(BUILTIN_CONFIG.read_text())
    endpoints["rate_limits"]["binance"] |= {"weight_per_window": limit, "window_seconds": window, "burst": 12}
    endpoints["endpoints"] = {"klines": endpoints["endpoints"]["klines"]}  # the others outweigh this small burst
    endpoints_file = tmp_path / "endpoints.yaml"
    endpoints_file.write_text(yaml.safe_dump(endpoints))
    config = SimulatorConfig(weight_limit=limit, window_seconds=window)
    with harness_for(lake_settings, tmp_path, config) as harness:
        jobs = [harness.klines_job(minutes=2500, job_id=f"budget-{i}") for i in range(36)]  # 3 pages, weight 6 each
        for job in jobs:
            harness.queue.enqueue(job)
        for _ in range(3):
            # A lease a loaded machine cannot outlast (the harness's 2 s lapsed under CI load: two jobs
            # were crawled again by another worker, as they should be), so each page is fetched once.
            harness.start_worker(LAKE_CRAWLER__ENDPOINTS_FILE=str(endpoints_file), LAKE_QUEUE__LEASE_SECONDS="20")
        states = [harness.wait(job.job_id, timeout=120).state for job in jobs]
        assert states == [JobState.SUCCEEDED] * len(jobs)
        by_status = harness.simulator.stats().count_by_status
        assert by_status.get(429, 0) == 0 and by_status.get(418, 0) == 0, by_status
        assert by_status[200] == 3 * len(jobs)


def test_bad_input_fails_clearly_and_the_worker_keeps_running(harness: Harness) -> None:
    queue = harness.queue
    harness.start_worker()

    queue.redis.lpush(queue.key("pending"), '{"job_id": "broken-json", ')
    traversal = harness.klines_job(60, job_id="traversal").model_dump(mode="json") | {"landing_prefix": "../../etc"}
    queue.redis.lpush(queue.key("pending"), json.dumps(traversal))
    unknown = harness.klines_job(60, job_id="unknown-endpoint").model_copy(update={"endpoint": "candles"})
    queue.enqueue(unknown)
    queue.enqueue(harness.klines_job(60, job_id="bad-interval", interval="7m"))
    queue.enqueue(harness.klines_job(60, job_id="bad-symbol", symbol="NOPEUSDT"))

    # Two malformed messages and two jobs the endpoint file refuses: all four are dead letters.
    wait_until(lambda: len(queue.dead_letters()) == 4, 30, "the four unrunnable jobs to be dead-lettered")
    assert harness.wait("traversal").state is JobState.DEAD
    letters = {letter.job_id: letter.reason for letter in queue.dead_letters()}
    assert "must not contain '.', '..'" in letters["traversal"]
    assert any("malformed job message" in reason for job_id, reason in letters.items() if job_id is None)

    unknown_status = harness.wait("unknown-endpoint")
    assert unknown_status.state is JobState.DEAD and unknown_status.attempts == 1
    assert "unknown endpoint 'candles'" in (unknown_status.error or "") in letters["unknown-endpoint"]
    interval_status = harness.wait("bad-interval")
    assert interval_status.state is JobState.DEAD
    assert "interval: '7m' is not one of" in (interval_status.error or "")
    symbol_status = harness.wait("bad-symbol")
    assert symbol_status.state is JobState.FAILED and symbol_status.attempts == 1  # a 4xx is not retried
    assert "HTTP 400 -1121: Invalid symbol." in (symbol_status.error or "")

    for job_id, fault, expected in [
        ("html-page", "html", "is not valid JSON (text/html"),
        ("cut-short", "truncated", "is not valid JSON (application/json"),
    ]:
        harness.simulator.inject_fault(KLINES, fault, times=3)  # one bad answer per attempt
        queue.enqueue(harness.klines_job(60, job_id=job_id))
        status = harness.wait(job_id)
        assert status.state is JobState.DEAD and status.attempts == 3, status
        assert expected in (status.error or "")
        assert harness.manifest(status) is None and status.outputs == {}

    good = harness.klines_job(60, job_id="still-working")
    queue.enqueue(good)
    assert harness.wait(good.job_id).state is JobState.SUCCEEDED
    assert all(process.poll() is None for process in harness.processes)  # the worker never crashed
    logs = harness.logs()
    assert "-1121" in logs
    # No secret of the stack appears in what the worker logged, errors included: its own credentials (its
    # identity file) least of all.
    generated = generated_secrets(Stack.for_settings(harness.settings))
    own = [generated[f"crawler.env:{name}"] for name in ("LAKE_S3__SECRET_ACCESS_KEY", "LAKE_QUEUE__PASSWORD")]
    assert all(len(secret) >= 16 for secret in own)
    assert secrets_found_in(generated, sorted(harness.tmp_path.glob("worker-*.log")), {}) == []


def test_s3_down_during_a_write_leaves_nothing_complete(harness: Harness) -> None:
    job = harness.klines_job(60, job_id="no-storage")
    harness.queue.enqueue(job)
    harness.start_worker(LAKE_S3__ENDPOINT="http://127.0.0.1:9")  # nothing listens: storage is down
    status = harness.wait(job.job_id)
    assert status.state is JobState.DEAD and status.attempts == 3
    assert "writing page to s3://" in (status.error or "")
    assert harness.manifest(status) is None


def test_sigterm_releases_a_running_job_for_another_worker(lake_settings: LakeSettings, tmp_path: Path) -> None:
    with harness_for(lake_settings, tmp_path, SimulatorConfig(latency_seconds=0.3)) as harness:
        job = harness.klines_job(minutes=19_500)  # 20 pages at 0.3 s: longer than the 1 s grace
        harness.queue.enqueue(job)
        first = harness.start_worker()
        wait_until(lambda: len(harness.served()) >= 2, 30, "the job to start")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
        released = harness.queue.status(job.job_id)
        assert released is not None and released.state is JobState.QUEUED and released.attempts == 0
        key = manifest_key_of(job)
        assert read_manifest(harness.s3, lake_settings.s3.raw_bucket, key) is None  # a stopped crawl lands no manifest

        harness.start_worker()
        status = harness.wait(job.job_id)
        assert status.state is JobState.SUCCEEDED and status.attempts == 1
        manifest = harness.manifest(status)
        assert manifest is not None and manifest.records == 19_500


def test_enqueue_and_status_from_the_command_line(harness: Harness) -> None:
    # A person at the command line: the operator's settings, not the crawler's the workers run with.
    env = harness.env | {"LAKE_ENV_FILE": str(harness.settings.home / "lake.env")}
    enqueue = subprocess.run(
        [
            SCRAPWORKER,
            "enqueue",
            "--job-id",
            "cli-1",
            "--endpoint",
            "klines",
            "--param",
            "symbol=BTCUSDT",
            "--param",
            "interval=1m",
            "--window-start",
            "2026-10-01T00:00:00+00:00",
            "--window-end",
            "2026-10-01T00:30:00+00:00",
            "--prefix",
            f"tests/{harness.prefix}",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert enqueue.returncode == 0, enqueue.stderr
    assert json.loads(enqueue.stdout) == {"job_id": "cli-1", "state": "queued"}
    refused = subprocess.run(
        [SCRAPWORKER, "enqueue", "--job-id", "cli-2", "--endpoint", "klines", "--prefix", "x", "--param", "symbol=B"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "interval: required" in refused.stderr
    harness.start_worker()
    status = subprocess.run([SCRAPWORKER, "status", "cli-1", "--wait", "60"], env=env, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["outputs"]["records"] == 30
    assert os.environ.get("LAKE_QUEUE__PREFIX") is None  # the test never leaked its settings
    bounded = subprocess.run(
        [
            SCRAPWORKER,
            "enqueue",
            "--json",
            json.dumps(harness.klines_job(5).model_dump(mode="json") | {"attempt": 2**40}),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bounded.returncode == 2 and "attempt: Input should be less than or equal to 1000" in bounded.stderr
    early = subprocess.run(
        [
            *(SCRAPWORKER, "enqueue", "--job-id", "cli-3", "--endpoint", "klines", "--prefix", "x"),
            *("--param", "symbol=BTCUSDT", "--param", "interval=1m"),
            *("--window-start", "2010-01-01T00:00:00+00:00", "--window-end", "2010-01-01T00:01:00+00:00"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert early.returncode == 2 and "starts before the API's first data (2017-07-14" in early.stderr


def test_hostile_messages_beside_valid_jobs_lose_nothing(harness: Harness) -> None:
    """150 hostile messages pushed next to 10 valid jobs, two workers: no worker dies, no message is lost,
    every valid job lands under its own prefix. (bench/hostile.py runs the same with 1000 messages.)"""
    queue = harness.queue
    valid = [harness.klines_job(2, job_id=f"valid-{i}") for i in range(10)]
    rng = random.Random(20261125)
    messages = [hostile_message(rng, [spec.job_id for spec in valid]) for _ in range(150)]
    for spec in valid[:5]:
        queue.enqueue(spec)
    for message in messages:
        queue.redis.lpush(queue.key("pending"), message)
    for spec in valid[5:]:
        queue.enqueue(spec)
    harness.start_worker()
    harness.start_worker()
    wait_until(lambda: drained(queue), 120, "the queue to drain")
    assert all(process.poll() is None for process in harness.processes), harness.logs()[-3000:]
    accounting = account(queue, messages)
    assert accounting.lost == accounting.unfinished == accounting.unexplained == 0, accounting.line()
    for spec in valid:
        status = queue.status(spec.job_id)
        assert status is not None and status.state is JobState.SUCCEEDED, status
        assert status.outputs["prefix"] == landing_prefix(spec) and status.outputs["records"] == 2


def test_a_worker_killed_between_manifest_and_succeed_leaves_a_succeeded_job(harness: Harness) -> None:
    """The landing is complete but nobody said so: the reaper finds the manifest instead of re-crawling."""
    queue = harness.queue
    spec = harness.klines_job(3, job_id="landed-then-killed")
    queue.enqueue(spec)
    message = queue.take("ghost", timeout=1)
    assert message is not None
    lease = queue.lease("ghost", message)
    assert lease is not None
    landing = LandingWriter(harness.s3, harness.settings.s3.raw_bucket, spec)
    landing.write_page(b"[[1, 2], [3, 4], [5, 6]]", {"symbol": "BTCUSDT"}, records=3)
    landing.write_manifest(worker="ghost", attempt=lease.attempt, started_at=datetime.now(UTC))
    # ... and the ghost dies here, before queue.succeed.
    harness.start_worker()
    status = harness.wait(spec.job_id)
    assert status.state is JobState.SUCCEEDED and status.attempts == 1
    assert status.outputs["records"] == 3 and status.outputs["manifest_key"] == landing.manifest_key
    assert any("landing was complete" in line for line in status.history)
    assert harness.served() == []  # nothing was crawled again


def test_redis_restarted_mid_run_loses_no_job(lake_settings: LakeSettings, tmp_path: Path) -> None:
    """The queue's Redis (append-only file, as the stack runs it) restarts while a worker crawls: the worker
    waits it out and every job still ends succeeded, none lost or stuck."""
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    # The stack's own users and rules: authentication stays on here too.
    argv += ["--aclfile", str(lake_settings.home / "stack" / "redis.acl")]

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, stdout=(tmp_path / "redis.log").open("a"))
        wait_until(lambda: _pings(port), 20, "redis to answer")
        return process

    redis_server = start()
    try:
        with harness_for(lake_settings, tmp_path) as harness:
            url = f"redis://127.0.0.1:{port}/0"
            harness.queue = JobQueue.from_settings(
                lake_settings.queue, url=url, prefix=harness.prefix, lease_seconds=2, max_attempts=5
            )
            harness.env |= {"LAKE_QUEUE__URL": url, "LAKE_QUEUE__MAX_ATTEMPTS": "5"}
            jobs = [harness.klines_job(30, job_id=f"restart-{i}") for i in range(20)]
            for spec in jobs:
                harness.queue.enqueue(spec)
            harness.start_worker()
            wait_until(lambda: harness.queue.redis.zcard(harness.queue.key("leases")) > 0, 30, "a job to start")
            redis_server.send_signal(signal.SIGTERM)  # Redis's own shutdown: the append-only file is flushed
            redis_server.wait(timeout=30)
            time.sleep(1.5)
            redis_server = start()
            try:
                for spec in jobs:
                    assert harness.wait(spec.job_id, timeout=120).state is JobState.SUCCEEDED
                assert all(process.poll() is None for process in harness.processes)
                assert drained(harness.queue)
                assert "dead-lettering" not in harness.logs()  # Redis being away is never a message's fault
            finally:
                harness.stop_all()
                for key in harness.queue.redis.scan_iter(f"{harness.prefix}:*"):
                    harness.queue.redis.delete(key)
                # What harness_for cleans: the stack's own queue.
                harness.queue = JobQueue.from_settings(lake_settings.queue, prefix=harness.prefix)
    finally:
        # The Redis this test started, whatever failed: stopped by its PID, never left behind.
        redis_server.send_signal(signal.SIGTERM)
        redis_server.wait(timeout=30)


def _pings(port: int) -> bool:
    import redis as redis_client

    try:
        return bool(redis_client.Redis(port=port, socket_timeout=1).ping())
    except redis_client.AuthenticationError:
        return True  # serving, and asking who is calling
    except redis_client.RedisError:
        return False


def test_s3_lost_mid_landing_is_retried_and_never_looks_complete(harness: Harness) -> None:
    """Storage goes away while page 2 of 3 is uploading: the attempt fails with no manifest (the pages
    already written do not make a landing), and the retry lands the whole window."""
    endpoint = harness.settings.s3.endpoint or ""
    proxy = CuttableProxy(int(endpoint.rsplit(":", 1)[1]), cut_after=250_000)  # a page is ~170 kB
    try:
        job = harness.klines_job(2500, job_id="s3-cut")  # three pages of klines
        harness.queue.enqueue(job)
        harness.start_worker(LAKE_S3__ENDPOINT=f"http://127.0.0.1:{proxy.port}")
        wait_until(lambda: proxy.cuts == 1, 60, "the storage connection to be cut")
        wait_until(lambda: "queued: writing page" in "".join(_history(harness, job.job_id)), 120, "the attempt to fail")
        assert LandingWriter(harness.s3, harness.settings.s3.raw_bucket, job).manifest_key not in _keys(harness, job)
        proxy.restore()
        status = harness.wait(job.job_id, timeout=120)
        assert status.state is JobState.SUCCEEDED and status.attempts == 2, status
        manifest = harness.manifest(status)
        assert manifest is not None and manifest.page_count == 3 and manifest.records == 2500
        assert len(set(harness.landed_open_times(manifest))) == 2500
    finally:
        proxy.close()


def _history(harness: Harness, job_id: str) -> list[str]:
    status = harness.queue.status(job_id)
    return status.history if status else []


def _keys(harness: Harness, job: JobSpec) -> list[str]:
    listed = harness.s3.list_objects_v2(Bucket=harness.settings.s3.raw_bucket, Prefix=landing_prefix(job))
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.mark.parametrize(
    ("answer", "config"),
    [
        # Another client on the same IP spent the window: the worker's request is answered 429 until it ends.
        (429, SimulatorConfig(weight_limit=30, window_seconds=4.0, ban_after_violations=1000)),
        # That client kept going: the IP is banned (418) for ban_seconds, as Binance does.
        (418, SimulatorConfig(weight_limit=30, window_seconds=4.0, ban_after_violations=1, ban_seconds=3.0)),
    ],
)
def test_a_worker_answered_429_or_418_pauses_until_retry_after_and_lands_the_job(
    lake_settings: LakeSettings, tmp_path: Path, answer: int, config: SimulatorConfig
) -> None:
    """Our limiter allows Binance's 6000 a minute; the API, counting another client on the same IP too, allows
    30 in 4 s. The worker obeys the API's Retry-After for the whole group, and the job lands in its one attempt."""
    with harness_for(lake_settings, tmp_path, config) as harness:
        harness.start_worker()
        wait_for_fresh_window(config.window_seconds, needed=3.0)  # so that the job is sent within the spent one
        other_client = {"symbol": "ETHUSDT", "interval": "1m", "limit": "1000"}
        for _ in range(config.weight_limit // 2 + 1):  # weight 2 each: the last one is over the limit
            requests.get(harness.simulator.base_url + KLINES, params=other_client, timeout=5)
        spent = time.time()
        job = harness.klines_job(minutes=9000)  # 9 pages, weight 18: fits a window of 30
        harness.queue.enqueue(job)
        status = harness.wait(job.job_id, timeout=60)

        assert status.state is JobState.SUCCEEDED and status.attempts == 1, status
        manifest = harness.manifest(status)
        assert manifest is not None and manifest.records == 9000
        served = [r for r in harness.simulator.stats().requests if r.params.get("symbol") == "BTCUSDT"]
        refused = [r for r in served if r.status == answer]
        assert refused, [r.status for r in served]  # the worker was answered `answer` at least once
        # The answer's Retry-After: the window's end (429), or the ban's (418). Nothing of the worker's was
        # sent again before it: it paused, it did not hammer the API into a longer ban.
        window_end = (spent // config.window_seconds + 1) * config.window_seconds
        until = window_end if answer == 429 else spent + config.ban_seconds
        first = min(r.at for r in refused)
        retried = [r for r in served if r.at > first]
        assert retried and all(r.at >= until - 1.0 for r in retried), [(r.status, r.at - first) for r in retried]
        assert f"HTTP {answer} from" in harness.logs() and "pausing group binance" in harness.logs()
