"""The resources' own helpers, apart from a run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lake_assets.resources import lower_priority

# A process with four threads, then (after a line on stdin) a fifth, started by one of the four.
THREADS = """
import sys, threading, time
def later():
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    time.sleep(60)
for _ in range(3):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
starter = threading.Thread(target=lambda: (sys.stdin.readline(), later()), daemon=True)
starter.start()
print("ready", flush=True)
time.sleep(60)
"""


def niceness_of_threads(pid: int) -> dict[int, int]:
    return {
        int(task.name): os.getpriority(os.PRIO_PROCESS, int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()
    }


def test_lower_priority_lowers_every_thread_and_the_threads_started_after() -> None:
    """Linux's nice is per thread: renicing the pid alone would leave a JVM's worker threads as they were."""
    child = subprocess.Popen([sys.executable, "-c", THREADS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        before = niceness_of_threads(child.pid)
        assert len(before) == 5 and len(set(before.values())) == 1
        lower_priority(child.pid, 5)
        after = niceness_of_threads(child.pid)
        assert after == {thread: min(19, nice + 5) for thread, nice in before.items()}
        child.stdin.write("go\n")
        child.stdin.flush()
        for _ in range(100):
            now = niceness_of_threads(child.pid)
            if len(now) > len(after):
                break
            time.sleep(0.05)
        new = set(now) - set(after)
        assert new and all(now[thread] == min(19, next(iter(before.values())) + 5) for thread in new)
    finally:
        child.kill()
        child.wait()
