"""Endpoint configuration: which HTTP endpoints a job may name, their parameters, paging, weight and budget.

Loaded from YAML (the shipped `config/binance.yaml`, or `LAKE_CRAWLER__ENDPOINTS_FILE`) and validated
whole at load: `scrapworker validate-config FILE` prints every error with its path and line in the file.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lake.settings import CrawlerSettings
from scrapworker.protocol import JobSpec, ParamValue, TimeWindow, clip
from scrapworker.row_spans import Span, SpanError, parse_span, parse_zone
from scrapworker.yaml_config import ConfigError, read_yaml, validate

__all__ = ["ConfigError", "EndpointFile", "JobRejectedError", "endpoints_for", "load_endpoints", "parse_endpoints"]

BUILTIN_CONFIG = Path(__file__).parent / "config" / "binance.yaml"


class JobRejectedError(ValueError):
    """A job that names an unknown endpoint or parameters the endpoint does not accept."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamSpec(_Strict):
    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: bool = False
    choices: list[ParamValue] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def check(self, name: str, value: ParamValue) -> str | None:
        """The problem with `value`, or None when it is acceptable."""
        expected: dict[str, tuple[type, ...]] = {
            "string": (str,),
            "integer": (int,),
            "number": (int, float),
            "boolean": (bool,),
        }
        if isinstance(value, bool) and self.type != "boolean":
            return f"{name}: expected {self.type}, got a boolean"
        if not isinstance(value, expected[self.type]):
            return f"{name}: expected {self.type}, got {type(value).__name__} {clip(value)}"
        if self.choices is not None and value not in self.choices:
            return f"{name}: {clip(value)} is not one of {self.choices}"
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            return f"{name}: {clip(value)} does not match {self.pattern}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                return f"{name}: {value} is below the minimum {self.min:g}"
            if self.max is not None and value > self.max:
                return f"{name}: {value} is above the maximum {self.max:g}"
        return None


class RateLimitGroup(_Strict):
    """A budget shared by every worker: `weight_per_window` per fixed window, as the API counts it."""

    weight_per_window: int = Field(gt=0)
    window_seconds: float = Field(gt=0)
    # The most weight spent at once. The rest refills evenly over the window, so no fixed window of the
    # API can see more than weight_per_window; the price is that at most (1 - burst/limit) is sustained.
    burst: int = Field(gt=0)
    used_weight_header: str | None = None
    # A 429/418 asking to pause longer than this fails the attempt instead of holding the job.
    max_pause_seconds: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _burst_fits(self) -> RateLimitGroup:
        if self.burst >= self.weight_per_window:
            raise ValueError("burst: must be below weight_per_window (the refill would overrun a window)")
        return self

    @property
    def refill_per_second(self) -> float:
        return (self.weight_per_window - self.burst) / self.window_seconds


class Api(_Strict):
    base_url: str
    rate_limit_group: str
    # Where the API puts its error code and message in an error body ({"code": -1121, "msg": "..."}).
    error_code_field: str = "code"
    error_message_field: str = "msg"
    # The first moment the API has data for: a window that starts earlier is refused, not crawled empty.
    epoch: datetime | None = None

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise ValueError("expected an http(s):// base URL")
        return value.rstrip("/")


class OneShot(_Strict):
    kind: Literal["one_shot"]


class TimeWindowPaging(_Strict):
    """klines-style: [start, end] in ms, `limit` rows a page, the next page starting past the last row."""

    kind: Literal["time_window"]
    start_param: str
    end_param: str
    limit_param: str
    limit: int = Field(gt=0, le=1000)
    # Index (list rows) or key (object rows) of the row's time in ms.
    row_time: int | str
    # The shortest window worth a request: the API's time resolution for this endpoint.
    resolution_ms: int = Field(default=1, ge=1)
    # Rows that last a span (klines): the field holding the last ms a row covers. Such a row is final only once
    # that has passed at the API; a page holding one still open is asked again when it has closed, waiting at
    # most close_wait_seconds. With span_param (and zone_param), a window lands the rows that close in it.
    row_close_time: int | str | None = None
    span_param: str | None = None
    zone_param: str | None = None
    close_wait_seconds: float = Field(default=90, gt=0, le=600)

    @model_validator(mode="after")
    def _span_needs_close_time(self) -> TimeWindowPaging:
        if (self.span_param or self.zone_param) and self.row_close_time is None:
            raise ValueError("span_param and zone_param need row_close_time: a span is known by its close")
        if self.zone_param and not self.span_param:
            raise ValueError("zone_param needs span_param")
        return self


class OffsetPaging(_Strict):
    kind: Literal["offset"]
    offset_param: str
    limit_param: str
    limit: int = Field(gt=0)


class CursorPaging(_Strict):
    """fromId-style: the next page starts at the last row's id + 1."""

    kind: Literal["cursor"]
    cursor_param: str
    cursor_field: int | str
    limit_param: str
    limit: int = Field(gt=0)


Pagination = Annotated[OneShot | TimeWindowPaging | OffsetPaging | CursorPaging, Field(discriminator="kind")]


class Endpoint(_Strict):
    api: str
    path: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$")
    weight: int = Field(gt=0)
    # Weight when a parameter is absent (ticker/24hr: 2 for one symbol, 80 for all).
    weight_if_missing: dict[str, int] = Field(default_factory=dict)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    pagination: Pagination
    # Dotted path to the list of items in the body; "" is the body itself (a single object is one item).
    items: str = ""

    @model_validator(mode="after")
    def _paging_params_are_ours(self) -> Endpoint:
        owned = paging_params(self.pagination)
        clash = sorted(owned & set(self.params))
        if clash:
            raise ValueError(f"params: {', '.join(clash)} set by pagination; remove them from params")
        unknown = sorted(set(self.weight_if_missing) - set(self.params))
        if unknown:
            raise ValueError(f"weight_if_missing: {', '.join(unknown)} not among params")
        paging = self.pagination
        if isinstance(paging, TimeWindowPaging):
            named = [name for name in (paging.span_param, paging.zone_param) if name and name not in self.params]
            if named:
                raise ValueError(f"pagination: {', '.join(named)} not among params")
        return self

    def row_span(self, params: dict[str, ParamValue]) -> Span | None:
        """How long each row lasts for these parameters, when the endpoint's rows last a span (SpanError if the
        parameters do not say)."""
        paging = self.pagination
        if not isinstance(paging, TimeWindowPaging) or paging.span_param is None:
            return None
        if paging.span_param not in params:
            raise SpanError(f"{paging.span_param}: required to know how long each row lasts")
        zone = params.get(paging.zone_param) if paging.zone_param else None
        return Span(
            parse_span(paging.span_param, params[paging.span_param]),
            0 if zone is None else parse_zone(str(paging.zone_param), zone),
        )

    def request_weight(self, params: dict[str, ParamValue]) -> int:
        return max([self.weight, *(w for name, w in self.weight_if_missing.items() if name not in params)])

    def checked_params(self, params: dict[str, ParamValue], window: TimeWindow | None) -> None:
        """Raise JobRejectedError listing every problem with a job's parameters and window."""
        problems = [f"{name}: not a parameter of this endpoint" for name in sorted(set(params) - set(self.params))]
        problems += [
            f"{name}: required" for name, spec in sorted(self.params.items()) if spec.required and name not in params
        ]
        problems += [
            problem
            for name, value in sorted(params.items())
            if name in self.params and (problem := self.params[name].check(name, value)) is not None
        ]
        if not problems:
            try:
                self.row_span(params)
            except SpanError as exc:
                problems.append(str(exc))
        if isinstance(self.pagination, TimeWindowPaging) and window is None:
            problems.append("window: required by this time-window endpoint")
        if window is not None and not isinstance(self.pagination, TimeWindowPaging):
            problems.append("window: this endpoint is not crawled by time window")
        if problems:
            raise JobRejectedError("; ".join(problems))


def paging_params(pagination: OneShot | TimeWindowPaging | OffsetPaging | CursorPaging) -> set[str]:
    match pagination:
        case TimeWindowPaging():
            return {pagination.start_param, pagination.end_param, pagination.limit_param}
        case OffsetPaging():
            return {pagination.offset_param, pagination.limit_param}
        case CursorPaging():
            return {pagination.cursor_param, pagination.limit_param}
        case _:
            return set()


class EndpointFile(_Strict):
    version: Literal[1]
    rate_limits: dict[str, RateLimitGroup]
    apis: dict[str, Api]
    endpoints: dict[str, Endpoint]

    @model_validator(mode="after")
    def _references_resolve(self) -> EndpointFile:
        problems = []
        for name, api in self.apis.items():
            if api.rate_limit_group not in self.rate_limits:
                problems.append(f"apis.{name}.rate_limit_group: no rate limit group {api.rate_limit_group!r}")
        for name, endpoint in self.endpoints.items():
            if endpoint.api not in self.apis:
                problems.append(f"endpoints.{name}.api: no api {endpoint.api!r}")
                continue
            group = self.rate_limits.get(self.apis[endpoint.api].rate_limit_group)
            heaviest = max([endpoint.weight, *endpoint.weight_if_missing.values()])
            if group is not None and heaviest > group.burst:
                problems.append(f"endpoints.{name}.weight: {heaviest} exceeds its group's burst {group.burst}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise JobRejectedError(f"unknown endpoint {name!r}; known: {', '.join(sorted(self.endpoints))}") from None

    def check_job(self, spec: JobSpec) -> None:
        """Raise JobRejectedError naming every problem with a job for this endpoint file: the endpoint, its
        parameters, and the window against the API's epoch and the endpoint's time resolution. Workers,
        `scrapworker enqueue` and producers all check the same way."""
        endpoint = self.endpoint(spec.endpoint)
        problems = []
        try:
            endpoint.checked_params(spec.params, spec.window)
        except JobRejectedError as exc:
            problems.append(str(exc))
        window, epoch = spec.window, self.api_of(endpoint).epoch
        if window is not None and epoch is not None and window.start < epoch:
            problems.append(f"window: starts before the API's first data ({epoch:%Y-%m-%dT%H:%M:%SZ})")
        paging = endpoint.pagination
        short = window is not None and window.end_ms - window.start_ms < getattr(paging, "resolution_ms", 1)
        if short and isinstance(paging, TimeWindowPaging):
            problems.append(f"window: shorter than the endpoint's resolution of {paging.resolution_ms} ms")
        if problems:
            raise JobRejectedError("; ".join(problems))

    def api_of(self, endpoint: Endpoint) -> Api:
        return self.apis[endpoint.api]

    def group_of(self, endpoint: Endpoint) -> tuple[str, RateLimitGroup]:
        group = self.apis[endpoint.api].rate_limit_group
        return group, self.rate_limits[group]

    def with_base_urls(self, overrides: dict[str, str]) -> EndpointFile:
        """The same endpoints with some APIs pointed elsewhere (a simulator, a proxy, a testnet)."""
        unknown = sorted(set(overrides) - set(self.apis))
        if unknown:
            raise ConfigError("base URL overrides", [f"{name}: no such api" for name in unknown])
        apis = {
            name: Api.model_validate({**api.model_dump(), "base_url": overrides.get(name, api.base_url)})
            for name, api in self.apis.items()
        }
        return self.model_copy(update={"apis": apis})


def load_endpoints(path: Path = BUILTIN_CONFIG, base_urls: dict[str, str] | None = None) -> EndpointFile:
    """Load and validate an endpoint file; raise ConfigError with every problem and its line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    endpoints = parse_endpoints(text, str(path))
    return endpoints.with_base_urls(base_urls) if base_urls else endpoints


def endpoints_for(settings: CrawlerSettings) -> EndpointFile:
    """The endpoint file the settings name (LAKE_CRAWLER__ENDPOINTS_FILE, else the shipped one), with overrides."""
    return load_endpoints(settings.endpoints_file or BUILTIN_CONFIG, settings.base_urls)


def parse_endpoints(text: str, source: str) -> EndpointFile:
    data, root = read_yaml(text, source, "version, rate_limits, apis, endpoints")
    return validate(EndpointFile, data, root, source)
