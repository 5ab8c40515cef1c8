"""The HTTP server: MarketSimulator serves the endpoints on loopback, meters them and injects the faults."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, override
from urllib.parse import parse_qs, urlsplit

from market_sim.config import DEFAULT_CONFIG, ServedRequest, SimulatorConfig, SimulatorStats
from market_sim.endpoints import Endpoint, build_endpoints
from market_sim.faults import HTML_ERROR_PAGE, TIMEOUT_FAULT_SECONDS, FaultQueue
from market_sim.limiter import Admission, WeightLimiter, window_label
from market_sim.market import MarketData
from market_sim.protocol import (
    BAN_MESSAGE,
    JSON_CONTENT_TYPE,
    MICROSECOND_UNITS,
    TIME_UNIT_HEADER,
    TIME_UNITS,
    USED_WEIGHT_HEADERS,
    WINDOW_BUDGET_MESSAGE,
)
from market_sim.validation import INVALID_TIME_UNIT, ApiError, QueryParams, RawQuery


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    weight: int = 0
    rows: int = 0


def json_bytes(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def error_body(code: int, msg: str) -> bytes:
    return json_bytes({"code": code, "msg": msg})


def used_weight_headers(used: int) -> dict[str, str]:
    return dict.fromkeys(USED_WEIGHT_HEADERS, str(used))


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server: _SimulatorServer

    def do_GET(self) -> None:  # http.server dispatches GET requests by this name
        self.server.simulator._serve(self)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stats record every request; per-request stderr lines would only clutter test output

    def send_reply(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client gave up (its timeout fired) or stop() cut the connection: nobody is left to answer.
            self.close_connection = True


class _SimulatorServer(ThreadingHTTPServer):
    """Tracks open connections so that stop() can cut them, including ones parked by the "timeout" fault or
    idling in keep-alive: otherwise their threads would outlive the simulator."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's default backlog of 5 drops bursts of connects into 1 s SYN retries

    def __init__(self, address: tuple[str, int], simulator: MarketSimulator) -> None:
        super().__init__(address, _RequestHandler)
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @override
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    @override
    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    @override
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exception(), ConnectionError):
            return  # a client that hangs up mid-request (a crawler stopped, a timeout) is not the server's error
        super().handle_error(request, client_address)

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------------------------


class MarketSimulator:
    """The Binance Spot market-data API on loopback. Use as a context manager, or call start() and stop()."""

    def __init__(self, config: SimulatorConfig = DEFAULT_CONFIG, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self._address = (host, port)
        self._market = MarketData(config)
        self._endpoints = build_endpoints(config)
        self._limiter = WeightLimiter(config)
        self._faults = FaultQueue()
        self._served: list[ServedRequest] = []
        self._served_lock = threading.Lock()
        self._stopping = threading.Event()  # wakes handlers sleeping for latency or a "timeout" fault
        self._server: _SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = _SimulatorServer(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="market-simulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls --

    def inject_fault(self, path: str, kind: str, times: int = 1) -> None:
        """The next `times` requests to `path` get fault `kind` instead of their answer (see FAULT_KINDS)."""
        self._faults.add(path, kind, times)

    def stats(self) -> SimulatorStats:
        with self._served_lock:
            return SimulatorStats([replace(request, params=dict(request.params)) for request in self._served])

    def reset_stats(self) -> None:
        with self._served_lock:
            self._served.clear()

    def clear_limits(self) -> None:
        self._limiter.clear()

    # -- serving --

    def _serve(self, handler: _RequestHandler) -> None:
        received_at = time.time()
        url = urlsplit(handler.path)
        raw = parse_qs(url.query, keep_blank_values=True)
        client = str(handler.client_address[0])
        if self.config.latency_seconds:
            self._stopping.wait(self.config.latency_seconds)
        fault = self._faults.take(url.path)
        if fault == "timeout":
            self._record(url.path, raw, client, received_at, Reply(0, b""))
            self._stopping.wait(TIMEOUT_FAULT_SECONDS)
            handler.close_connection = True  # then hang up without a word
            return
        now = time.time()
        unit = handler.headers.get(TIME_UNIT_HEADER)
        reply = (
            self._fault_reply(fault, url.path, raw, client, now)
            if fault
            else self._answer(url.path, raw, client, now, unit)
        )
        self._record(url.path, raw, client, received_at, reply)
        handler.send_reply(reply)

    def _answer(self, path: str, raw: RawQuery, client: str, now: float, unit: str | None = None) -> Reply:
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            return self._unmetered(404, error_body(404, f"Not found: {path}"), client, now)
        weight = endpoint.weight(raw)
        admission = self._limiter.admit(client, weight, now)
        if admission.outcome != "served":
            return self._refusal(admission, client)
        status, body, rows = self._run(endpoint, raw, now, unit)
        return Reply(status, body, headers=used_weight_headers(admission.used_weight), weight=weight, rows=rows)

    def _refusal(self, admission: Admission, client: str) -> Reply:
        """429 for a request over the window's budget, 418 while banned; both say when to come back."""
        if admission.outcome == "banned":
            status, message = 418, BAN_MESSAGE.format(until_ms=admission.banned_until_ms)
        else:
            window = window_label(self.config.window_seconds)
            status, message = (
                429,
                WINDOW_BUDGET_MESSAGE.format(limit=self.config.weight_limit, window=window),
            )
        headers = {**used_weight_headers(admission.used_weight), "Retry-After": str(admission.retry_after)}
        return Reply(status, error_body(-1003, message), headers=headers)

    def _run(self, endpoint: Endpoint, raw: RawQuery, now: float, unit: str | None = None) -> tuple[int, bytes, int]:
        try:
            if unit is not None and unit not in TIME_UNITS:
                raise INVALID_TIME_UNIT
            payload = endpoint.answer(self._market, QueryParams(raw), int(now * 1000))
        except ApiError as error:
            return 400, error_body(error.code, error.msg), 0
        body = endpoint.in_microseconds(payload.body) if unit in MICROSECOND_UNITS else payload.body
        return 200, json_bytes(body), payload.rows

    def _unmetered(
        self, status: int, body: bytes, client: str, now: float, content_type: str = JSON_CONTENT_TYPE
    ) -> Reply:
        """A reply that costs no weight but still reports the weight used, as every answer does."""
        used = self._limiter.used_weight(client, now)
        return Reply(status, body, content_type, headers=used_weight_headers(used))

    def _fault_reply(self, fault: str, path: str, raw: RawQuery, client: str, now: float) -> Reply:
        match fault:
            case "html":
                return self._unmetered(200, HTML_ERROR_PAGE, client, now, "text/html; charset=utf-8")
            case "truncated":
                body = self._genuine_body(path, raw, now)
                return self._unmetered(200, body[: len(body) // 2], client, now)
            case "500":
                message = "Internal error; unable to process your request. Please try again."
                return self._unmetered(500, error_body(-1001, message), client, now)
            case "502":
                return self._unmetered(502, b"502 Bad Gateway", client, now, "text/plain; charset=utf-8")
            case "503":
                message = "Server is currently overloaded with other requests. Please try again in a few minutes."
                return self._unmetered(503, error_body(-1008, message), client, now)
            case _:  # "empty"
                return self._unmetered(200, b"", client, now)

    def _genuine_body(self, path: str, raw: RawQuery, now: float) -> bytes:
        """What the request would have been answered, so that a truncated body starts like the real one."""
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            return error_body(404, f"Not found: {path}")
        return self._run(endpoint, raw, now)[1]

    def _record(self, path: str, raw: RawQuery, client: str, received_at: float, reply: Reply) -> None:
        params = {name: values[0] for name, values in raw.items()}
        served = ServedRequest(path, params, reply.status, reply.weight, reply.rows, client, received_at)
        with self._served_lock:
            self._served.append(served)
