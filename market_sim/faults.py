"""Fault injection: the ways tests make the simulator misbehave on purpose, queued per path."""

from __future__ import annotations

import threading
from collections import deque

FAULT_KINDS = frozenset({"html", "truncated", "500", "502", "503", "empty", "timeout"})
TIMEOUT_FAULT_SECONDS = 30.0  # far longer than any sane client timeout; stop() cuts it short


class FaultQueue:
    """Faults waiting for the next requests to a path, served first come first served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[str]] = {}

    def add(self, path: str, kind: str, times: int) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        with self._lock:
            self._pending.setdefault(path, deque()).extend([kind] * times)

    def take(self, path: str) -> str | None:
        with self._lock:
            pending = self._pending.get(path)
            return pending.popleft() if pending else None


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service temporarily unavailable</title></head>"
    b"<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>"
)
