"""`market-sim` (or `python -m market_sim`): serve the simulator in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence

from market_sim.config import DEFAULT_CONFIG, SimulatorConfig
from market_sim.server import MarketSimulator


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="market-sim", description="Serve a simulated Binance Spot market-data API on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--weight-limit", type=int, default=DEFAULT_CONFIG.weight_limit)
    parser.add_argument("--window-seconds", type=float, default=DEFAULT_CONFIG.window_seconds)
    parser.add_argument("--latency", type=float, default=DEFAULT_CONFIG.latency_seconds)
    parser.add_argument("--ban-after-violations", type=int, default=DEFAULT_CONFIG.ban_after_violations)
    parser.add_argument("--ban-seconds", type=float, default=DEFAULT_CONFIG.ban_seconds)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve in the foreground, print the base URL on one line, and stop cleanly on SIGINT or SIGTERM."""
    args = parse_arguments(argv)
    config = SimulatorConfig(
        weight_limit=args.weight_limit,
        window_seconds=args.window_seconds,
        latency_seconds=args.latency,
        ban_after_violations=args.ban_after_violations,
        ban_seconds=args.ban_seconds,
    )
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before any thread starts, so every server thread inherits the mask and the signals wait for sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with MarketSimulator(config, host=args.host, port=args.port) as simulator:
        print(simulator.base_url, flush=True)
        signal.sigwait(stop_signals)
    return 0
