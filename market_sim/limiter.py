"""Weight accounting: REQUEST_WEIGHT per client IP per fixed window, the 429 past the limit and the 418 ban."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal

from market_sim.config import SimulatorConfig


def describe_window(window_seconds: float) -> tuple[str, int]:
    """(interval, intervalNum) of the weight window, as exchangeInfo's rateLimits state it."""
    if window_seconds >= 60 and window_seconds % 60 == 0:
        return "MINUTE", int(window_seconds // 60)
    return "SECOND", max(1, round(window_seconds))


def window_label(window_seconds: float) -> str:
    interval, count = describe_window(window_seconds)
    return interval if count == 1 else f"{count} {interval}"


@dataclass
class ClientBudget:
    window: int = -1  # index of the window `used` belongs to
    used: int = 0
    violations: int = 0
    banned_until: float = 0.0  # epoch seconds; 0 when not banned


@dataclass(frozen=True)
class Admission:
    outcome: Literal["served", "limited", "banned"]
    used_weight: int
    retry_after: int = 0
    banned_until_ms: int = 0


class WeightLimiter:
    """REQUEST_WEIGHT per client IP per fixed window, 429 past the limit, 418 for clients that ignore the 429s."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()  # handler threads race on the same client's budget
        self._clients: dict[str, ClientBudget] = {}

    def admit(self, client: str, weight: int, now: float) -> Admission:
        with self._lock:
            budget = self._current_budget(client, now)
            if budget.banned_until > now:
                return self._banned(budget, now)
            if budget.banned_until:  # the ban is over: violations count from zero again
                budget.banned_until = 0.0
                budget.violations = 0
            if budget.used + weight > self._config.weight_limit:
                budget.violations += 1
                if budget.violations >= self._config.ban_after_violations:
                    budget.banned_until = now + self._config.ban_seconds
                window_end = (budget.window + 1) * self._config.window_seconds
                return Admission("limited", budget.used, retry_after=max(1, math.ceil(window_end - now)))
            budget.used += weight
            return Admission("served", budget.used)

    def used_weight(self, client: str, now: float) -> int:
        with self._lock:
            return self._current_budget(client, now).used

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()

    def _current_budget(self, client: str, now: float) -> ClientBudget:
        budget = self._clients.setdefault(client, ClientBudget())
        window = math.floor(now / self._config.window_seconds)
        if budget.window != window:
            budget.window = window
            budget.used = 0
        return budget

    def _banned(self, budget: ClientBudget, now: float) -> Admission:
        return Admission(
            "banned",
            budget.used,
            retry_after=max(1, math.ceil(budget.banned_until - now)),
            banned_until_ms=int(budget.banned_until * 1000),
        )
