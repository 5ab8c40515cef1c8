"""What the budget benchmarks share: an endpoint file scaled to a small budget, and the weight the
simulator counted per fixed window."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from scrapworker.endpoints import BUILTIN_CONFIG


def scaled_endpoints(path: Path, limit: int, window: float, burst: int) -> Path:
    """The shipped klines endpoint under a budget of `limit` per `window` seconds, written to `path`."""
    endpoints = yaml.safe_load(BUILTIN_CONFIG.read_text())
    endpoints["rate_limits"]["binance"] |= {"weight_per_window": limit, "window_seconds": window, "burst": burst}
    endpoints["endpoints"] = {"klines": endpoints["endpoints"]["klines"]}  # the others outweigh a small burst
    path.write_text(yaml.safe_dump(endpoints))
    return path


def full_window_weights(requests: list[Any], start: float, end: float, window: float) -> list[int]:
    """The weight of the answered requests in each window wholly inside [start, end], in order: before
    and after, the workers were starting or draining."""
    per_window: Counter[int] = Counter()
    for request in requests:
        if request.status == 200:
            per_window[int(request.at // window)] += request.weight
    return [per_window[w] for w in sorted(per_window) if w * window >= start and (w + 1) * window <= end]
