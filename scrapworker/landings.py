"""Landings: what is crawled for each slot (and month of history), read from a validated YAML file.

    version: 1
    landings:
      binance_klines:                          # its raw asset is raw_binance_klines
        endpoint: klines                       # a name in the endpoint file
        prefix: binance                        # where it lands in the raw bucket
        params: {interval: 1m}                 # the same in every job
        for_each: {symbol: [BTCUSDT, ETHUSDT]} # one job per value (per combination)
        typed: klines                          # the typed table it feeds (lake_contracts/transforms.py)
        history: true                          # loadable month by month (history/ assets)

The file is checked whole against the endpoint file (endpoint names, every parameter value, the typed
transform's needs); `lake validate` and `scrapworker validate-config --landings FILE` print each error
with its path and line. A job id is derived from the landing, its parameters and its window, so
materialising the same slot again finds the same job (and its landing) instead of crawling twice.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from lake.settings import CrawlerSettings
from lake_contracts.transforms import TRANSFORMS
from scrapworker.endpoints import EndpointFile, TimeWindowPaging, endpoints_for
from scrapworker.protocol import JobSpec, ParamValue, TimeWindow
from scrapworker.yaml_config import ConfigError, located, read_yaml, validate

BUILTIN_LANDINGS = Path(__file__).parent / "config" / "landings.yaml"
# Bounds: a slot enqueues every parameter set of every landing, so a typo in a list must not queue 10k jobs.
MAX_LANDINGS = 50
MAX_PARAM_SETS = 200
INTERVAL_MINUTES = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "6h": 360, "8h": 480,
    "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
}  # fmt: skip

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,59}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LandingEntry(_Strict):
    endpoint: str
    prefix: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=20)
    for_each: dict[str, Annotated[list[ParamValue], Field(min_length=1, max_length=MAX_PARAM_SETS)]] = Field(
        default_factory=dict, max_length=3
    )
    typed: str | None = None
    history: bool = False


class LandingsFile(_Strict):
    version: Literal[1]
    # Each entry is validated on its own (parse_landings), so one bad landing does not hide the others' errors.
    landings: dict[Name, Any] = Field(min_length=1, max_length=MAX_LANDINGS)


@dataclass(frozen=True)
class Landing:
    """One raw landing asset: an endpoint crawled per window, once per parameter set (e.g. per symbol)."""

    name: str
    endpoint: str
    landing_prefix: str
    param_sets: tuple[dict[str, ParamValue], ...]
    typed: str | None = None
    history: bool = False

    @property
    def asset_name(self) -> str:
        return f"raw_{self.name}"

    def jobs(self, start: datetime, end: datetime, endpoints: EndpointFile) -> list[JobSpec]:
        """The jobs landing [start, end): one per parameter set, split only where the budget needs it.

        An endpoint without time windows (a ticker) is a snapshot taken when the job runs: its job is
        still named by the window, so each slot has its own, but it carries no window to crawl.
        """
        windowed = isinstance(endpoints.endpoint(self.endpoint).pagination, TimeWindowPaging)
        specs = []
        for params in self.param_sets:
            for chunk_start, chunk_end in self._chunks(start, end, params, endpoints):
                label = "-".join(str(value) for value in params.values())
                job_id = (
                    f"{self.landing_prefix}.{self.endpoint}.{label}.{chunk_start:%Y%m%dT%H%M}-{chunk_end:%Y%m%dT%H%M}"
                )
                specs.append(
                    JobSpec(
                        job_id=re.sub(r"[^A-Za-z0-9._:=-]", "-", job_id),
                        endpoint=self.endpoint,
                        params=params,
                        window=TimeWindow(start=chunk_start, end=chunk_end) if windowed else None,
                        landing_prefix=self.landing_prefix,
                    )
                )
        return specs

    def _chunks(
        self, start: datetime, end: datetime, params: dict[str, ParamValue], endpoints: EndpointFile
    ) -> list[tuple[datetime, datetime]]:
        """Split a range only when one job would need more weight than its group allows per window.

        A job holds its lease while it waits for budget; keeping each job within one window's budget
        keeps it finishing in about a window, however long the range. Chunks are whole pages of rows
        (but the last), so splitting costs no extra page: a month of 1m klines is 45 requests whole or cut.
        """
        endpoint = endpoints.endpoint(self.endpoint)
        interval = INTERVAL_MINUTES.get(str(params.get("interval", "")))
        paging = endpoint.pagination
        if not isinstance(paging, TimeWindowPaging) or interval is None:
            return [(start, end)]
        _, group = endpoints.group_of(endpoint)
        weight = endpoint.request_weight(params)
        # A window of exactly n full pages may cost n + 1 requests (an empty last one says it is the end).
        pages_per_job = max(1, group.weight_per_window // weight - 1)
        step = timedelta(minutes=interval * paging.limit * pages_per_job)
        if end - start <= step:
            return [(start, end)]
        edges = [start + step * i for i in range(math.ceil((end - start) / step))] + [end]
        return list(itertools.pairwise(edges))


def load_landings(endpoints: EndpointFile, path: Path = BUILTIN_LANDINGS) -> tuple[Landing, ...]:
    """Load and validate a landings file against the endpoint file; ConfigError with every problem."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_landings(text, str(path), endpoints)


def landings_for(settings: CrawlerSettings) -> tuple[Landing, ...]:
    """The landings the settings name (LAKE_CRAWLER__LANDINGS_FILE, else the shipped file)."""
    return load_landings(endpoints_for(settings), settings.landings_file or BUILTIN_LANDINGS)


def parse_landings(text: str, source: str, endpoints: EndpointFile) -> tuple[Landing, ...]:
    data, root = read_yaml(text, source, "version, landings")
    problems: list[str] = []
    try:
        names = list(validate(LandingsFile, data, root, source).landings)
    except ConfigError as exc:
        problems, names = exc.problems, [name for name in data.get("landings") or {} if isinstance(name, str)]
    entries: dict[str, LandingEntry] = {}
    for name in names:
        try:
            entries[name] = validate(LandingEntry, data["landings"][name], root, source, ("landings", name))
        except ConfigError as exc:
            problems += exc.problems
            continue
        problems += [located(["landings", name, *loc], text, root) for loc, text in _problems(entries[name], endpoints)]
    if problems:
        raise ConfigError(source, list(dict.fromkeys(problems)))
    return tuple(_landing(name, entry) for name, entry in entries.items())


def _landing(name: str, entry: LandingEntry) -> Landing:
    keys = list(entry.for_each)
    combos = itertools.product(*(entry.for_each[key] for key in keys))
    param_sets = tuple({**dict(zip(keys, combo, strict=True)), **entry.params} for combo in combos)
    return Landing(name, entry.endpoint, entry.prefix, param_sets, entry.typed, entry.history)


def _problems(entry: LandingEntry, endpoints: EndpointFile) -> list[tuple[list[Any], str]]:
    """Each problem as (location inside the landing, message): the file is valid YAML of the right shape,
    so what is left is whether the endpoint file and the transforms accept it."""
    endpoint = endpoints.endpoints.get(entry.endpoint)
    if endpoint is None:
        return [
            (
                ["endpoint"],
                f"no endpoint {entry.endpoint!r} in the endpoint file; known: {', '.join(endpoints.endpoints)}",
            )
        ]
    found: list[tuple[list[Any], str]] = []
    for name in sorted(set(entry.params) & set(entry.for_each)):
        found.append((["for_each", name], "also set in params; give it in one place"))
    values: list[tuple[list[Any], str, ParamValue]] = [
        (["params", name], name, value) for name, value in entry.params.items()
    ]
    values += [
        (["for_each", name, i], name, value) for name, vs in entry.for_each.items() for i, value in enumerate(vs)
    ]
    for loc, name, value in values:
        spec = endpoint.params.get(name)
        problem = f"not a parameter of endpoint {entry.endpoint}" if spec is None else spec.check(name, value)
        if problem is not None:
            found.append((loc, problem.removeprefix(f"{name}: ")))
    given = set(entry.params) | set(entry.for_each)
    for name, spec in sorted(endpoint.params.items()):
        if spec.required and name not in given:
            found.append(([], f"{name}: required by endpoint {entry.endpoint} (in params or for_each)"))
    sets = math.prod(len(vs) for vs in entry.for_each.values())
    if sets > MAX_PARAM_SETS:
        found.append((["for_each"], f"{sets} parameter sets; at most {MAX_PARAM_SETS} per landing"))
    windowed = isinstance(endpoint.pagination, TimeWindowPaging)
    if entry.typed is not None:
        transform = TRANSFORMS.get(entry.typed)
        if transform is None:
            found.append((["typed"], f"no typed transform {entry.typed!r}; known: {', '.join(TRANSFORMS)}"))
        elif transform.endpoint != entry.endpoint:
            found.append((["typed"], f"{entry.typed} types {transform.endpoint} landings, not {entry.endpoint}"))
        else:
            missing = [name for name in transform.required_params if name not in given]
            if missing:
                found.append((["typed"], f"{entry.typed} needs {', '.join(missing)} in params or for_each"))
    if entry.history and not windowed:
        found.append((["history"], f"{entry.endpoint} is not crawled by time window: it has no history to load"))
    return found
