"""What authentication costs on the slot path: landing -> signal committed, with and without it.

    .venv/bin/python bench/auth_cost.py [--slots 20]

Starts the embedded stack twice in throwaway LAKE_HOMEs, with the market simulator and one scrapworker:
  - authenticated: as `lake stack up` runs it (Redis ACL users, per-role S3 keys, Nessie verifying each
    request's bearer token against its rules); the worker runs as the crawler, the assets as the writer;
  - open (the baseline): the same processes and the same clients, but Redis lets every user do anything
    and Nessie checks no token (switched off here, in this process only: the project has no such switch).
For each, the raw landings and the signal of N past slots (the default cadence) are materialised one slot at a time
(Dagster in process, the worker crawling the simulator), and the time of each slot is taken. The first
slot of each run is warm-up, printed and not counted. Prints p50/p95 per mode and the ratio of medians,
then the Dagster webserver's per-request cost of its login check (HTTP Basic, lake_tools/platform/dagster_web.py).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lake.settings import load_settings  # noqa: E402
from lake_contracts.slots import Slot  # noqa: E402
from lake_tools.bootstrap import bootstrap  # noqa: E402
from lake_tools.platform.dagster_web import BasicAuth, password_digest  # noqa: E402
from lake_tools.stack import Stack  # noqa: E402
from market_sim import MarketSimulator  # noqa: E402
from tests.support import free_port_base, make_lake_home  # noqa: E402

OPEN_ACL = "user default on nopass ~* &* +@all\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def stack_for(mode: str) -> Any:
    """A stack as `lake stack up` starts it, or (mode "open") with Redis and Nessie checking nobody."""
    home = make_lake_home(f"lake-auth-{mode}-")
    stack = Stack(home, free_port_base())
    patches = []
    if mode == "open":

        def open_acl(prefix: str, passwords: dict[Any, str], default_password: str | None = None) -> str:
            users = "".join(f"user {role} on nopass ~* &* +@all\n" for role in passwords)
            return OPEN_ACL + users

        patches = [
            mock.patch("lake_tools.stack.components.redis_acl", open_acl),
            mock.patch(
                "lake.catalog_config.nessie_auth_properties",
                lambda settings: {"nessie.server.authentication.enabled": "false"},
            ),
        ]
    for patch in patches:
        patch.start()
    try:
        stack.up()
        bootstrap(load_settings(env_file=stack.env_file))
        yield stack
    finally:
        for patch in patches:
            patch.stop()
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def run_slots(stack: Stack, simulator: MarketSimulator, count: int) -> list[float]:
    import dagster as dg

    from lake_assets.defs.scraper.assets import RAW_LANDINGS, signals
    from lake_assets.resources import all_resources, settings_from
    from lake_tools.dagster_home import environment

    extra = f'LAKE_CRAWLER__BASE_URLS={{"binance": "{simulator.base_url}"}}\n'
    files = {}
    for identity in ("crawler", "dagster"):
        path = stack.identity_env_file(identity).with_name(f"bench-{identity}.env")
        path.write_text(stack.identity_env_file(identity).read_text() + extra)
        path.chmod(0o600)
        files[identity] = path
    for key in [key for key in os.environ if key.startswith(("LAKE_", "DAGSTER_"))]:
        del os.environ[key]  # the previous mode's stack: real variables would win over this stack's file
    settings = load_settings(env_file=files["dagster"])
    env = environment(settings)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DAGSTER_", "LAKE_DAGSTER"))})
    settings_from.cache_clear()
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")}
    worker_env["LAKE_ENV_FILE"] = str(files["crawler"])
    log = (stack.layout.log_dir / "bench-worker.log").open("ab")
    worker = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "scrapworker"), "run", "--concurrency", "4"],
        env=worker_env,
        stdout=log,
        stderr=log,
    )
    timings = []
    try:  # from the worker's start: whatever fails below, the worker is stopped by its PID
        instance = dg.DagsterInstance.get()
        # Past slots of the default cadence (the partitions the definitions were loaded with).
        cadence = settings.partitions.cadence_minutes
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        end = now - timedelta(minutes=(now.hour * 60 + now.minute) % cadence)
        slots = [Slot(end - timedelta(minutes=cadence * (count + 1 - i)), cadence) for i in range(count)]
        for slot in slots:
            started = time.perf_counter()
            result = dg.materialize(
                [RAW_LANDINGS, signals],
                partition_key=slot.key,
                resources=all_resources(env_file=str(files["dagster"])),
                instance=instance,
                raise_on_error=True,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )
            assert result.success
            timings.append(time.perf_counter() - started)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    return timings


def login_check_cost(requests: int = 20_000) -> float:
    """Microseconds the webserver's login check adds to one request (a known user, the right password)."""
    digests = {"operator": password_digest("x" * 32), "airflow-bridge": password_digest("y" * 32)}
    guard = BasicAuth(app=None, digests=digests)  # type: ignore[arg-type]
    header = b"Basic " + base64.b64encode(b"operator:" + b"x" * 32)
    scope = {"type": "http", "headers": [(b"authorization", header)]}
    started = time.perf_counter()
    for _ in range(requests):
        assert guard._allowed(scope)
    return (time.perf_counter() - started) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with MarketSimulator() as simulator:
        for mode in ("open", "authenticated"):
            with stack_for(mode) as stack:
                timings = run_slots(stack, simulator, args.slots + 1)
            print(f"{mode:>13}: warm-up slot {timings[0]:.2f} s; " + " ".join(f"{t:.2f}" for t in timings[1:]))
            results[mode] = timings[1:]
    print()
    for mode, timings in results.items():
        print(
            f"{mode:>13}: slot landing -> signal committed, {len(timings)} slots: "
            f"p50 {statistics.median(timings):.3f} s, p95 {percentile(timings, 0.95):.3f} s"
        )
    ratio = statistics.median(results["authenticated"]) / statistics.median(results["open"])
    print(f"ratio authenticated/open (p50): {ratio:.3f}")
    print(f"Dagster webserver login check: {login_check_cost():.1f} µs per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
