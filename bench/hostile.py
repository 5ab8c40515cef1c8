"""Hostile producers: 1000 generated hostile messages pushed onto the pending list beside valid jobs.

    .venv/bin/python bench/hostile.py [--messages 1000] [--valid 50] [--workers 3]

Starts its own embedded stack (Redis, SeaweedFS, PostgreSQL, Nessie) on free ports and the market-API
simulator, pushes the messages from tests/scrapworker/hostile.py (seeded, so a run repeats) mixed with
valid klines jobs, runs `scrapworker run` workers until the queue drains, and prints: workers alive at
the end, messages dead-lettered, messages lost (must be 0) and valid jobs landed (must be all).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lake.settings import load_settings  # noqa: E402
from market_sim import MarketSimulator  # noqa: E402
from scrapworker.protocol import JobState  # noqa: E402
from scrapworker.queue import JobQueue  # noqa: E402
from tests.scrapworker.hostile import account, drained, hostile_message, valid_spec  # noqa: E402
from tests.support import clean_environ, throwaway_stack  # noqa: E402

SCRAPWORKER = str(Path(sys.executable).parent / "scrapworker")


def run(env_file: Path, messages: int, valid: int, workers: int) -> bool:
    prefix = f"scrapworker-hostile{secrets.token_hex(3)}"  # a sub-queue: the ACL users reach it
    settings = load_settings(env_file=env_file)
    queue = JobQueue.from_settings(settings.queue, prefix=prefix, lease_seconds=5)
    specs = [valid_spec(f"valid-{i}", minute=i, prefix=f"bench/{prefix}") for i in range(valid)]
    rng = random.Random(20261125)
    hostile = [hostile_message(rng, [spec.job_id for spec in specs]) for _ in range(messages)]
    # The valid jobs spread among the hostile messages.
    step = max(1, messages // max(1, valid))
    for i, message in enumerate(hostile):
        if i % step == 0 and i // step < valid:
            queue.enqueue(specs[i // step])
        queue.redis.lpush(queue.key("pending"), message)
    for spec in specs:
        queue.enqueue(spec)  # idempotent: those already queued stay as they are

    with MarketSimulator() as simulator:
        env = clean_environ(
            LAKE_ENV_FILE=str(env_file),
            LAKE_QUEUE__PREFIX=prefix,
            LAKE_QUEUE__LEASE_SECONDS="5",
            LAKE_CRAWLER__BASE_URLS=json.dumps({"binance": simulator.base_url}),
        )
        started = time.monotonic()
        processes = [
            subprocess.Popen([SCRAPWORKER, "run", "--concurrency", "4"], env=env, stderr=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        deadline = started + 600
        while not drained(queue) and time.monotonic() < deadline:
            time.sleep(0.2)
        seconds = time.monotonic() - started
        alive = sum(process.poll() is None for process in processes)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)

    accounting = account(queue, hostile)
    landed = sum(
        1 for spec in specs if (status := queue.status(spec.job_id)) is not None and status.state is JobState.SUCCEEDED
    )
    letters = queue.dead_letters(limit=100_000)
    longest = max((len(letter.reason) for letter in letters), default=0)
    print(f"== {messages} hostile messages beside {valid} valid jobs, {workers} workers, drained in {seconds:.1f} s")
    print(f"workers alive at the end   {alive} of {workers}")
    print(f"messages dead-lettered     {accounting.dead_lettered} (longest reason {longest} characters)")
    print(f"messages that ran as jobs  {accounting.ran} (well-formed ones with a fresh id, or duplicates)")
    print(f"messages lost              {accounting.lost + accounting.unfinished}   (must be 0)")
    print(f"dead letters unexplained   {accounting.unexplained}   (must be 0: each letter is one message's)")
    print(f"valid jobs landed          {landed} of {valid}   (must be all)")
    for key in queue.redis.scan_iter(f"{prefix}:*"):
        queue.redis.delete(key)
    missing = accounting.lost + accounting.unfinished + accounting.unexplained
    return alive == workers and missing == 0 and landed == valid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--valid", type=int, default=50)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    with throwaway_stack() as env_file:
        ok = run(env_file, args.messages, args.valid, args.workers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
