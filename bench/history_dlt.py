"""dlt's side of bench/history.py: the same klines, from the same simulator, by dlt's `rest_api` source into
an Iceberg table (dlt's `filesystem` destination with `table_format="iceberg"`: pyiceberg and dlt's SQL
catalog, data on the same SeaweedFS).

Runs in the benchmark's own environment (bench/history.py creates it): dlt is never a dependency of the
project, and this file imports nothing of it. Prints one JSON line: rows loaded and the time of each step.

    DLT_S3_ENDPOINT=... DLT_S3_KEY=... DLT_S3_SECRET=... python bench/history_dlt.py \
        --base-url http://127.0.0.1:PORT --bucket s3://raw/dlt --start-ms ... --end-ms ... --symbol BTCUSDT ...
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import dlt
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from dlt.sources.rest_api import rest_api_source

COLUMNS = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades",
    "taker_buy_base_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
LIMIT = 1000


class KlinesPaginator(BasePaginator):
    """Binance klines: the next page starts 1 ms past the last row's open time; a short page is the last.
    (rest_api has no built-in paginator for a bare JSON array paged by time, so it takes this one.)"""

    def __init__(self) -> None:
        super().__init__()
        self.next_start: int | None = None

    def update_state(self, response: Any, data: list[Any] | None = None) -> None:
        rows = response.json()
        if len(rows) < LIMIT:
            self._has_next_page = False
        else:
            self.next_start = int(rows[-1][0]) + 1

    def update_request(self, request: Any) -> None:
        request.params["startTime"] = self.next_start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--start-ms", type=int, required=True)
    parser.add_argument("--end-ms", type=int, required=True)
    parser.add_argument("--symbol", action="append", required=True)
    args = parser.parse_args()

    def resource(symbol: str) -> dict[str, Any]:
        params = {"symbol": symbol, "interval": "1m", "startTime": args.start_ms, "endTime": args.end_ms - 1}
        return {
            "name": f"klines_{symbol.lower()}",
            "table_name": "klines",
            "write_disposition": "append",
            "table_format": "iceberg",
            "endpoint": {"path": "api/v3/klines", "params": params | {"limit": LIMIT}, "paginator": KlinesPaginator()},
            "processing_steps": [{"map": lambda row, s=symbol: {"symbol": s, **dict(zip(COLUMNS, row, strict=True))}}],
        }

    source = rest_api_source({"client": {"base_url": args.base_url}, "resources": [resource(s) for s in args.symbol]})
    destination = dlt.destinations.filesystem(
        bucket_url=args.bucket,
        credentials={
            "aws_access_key_id": os.environ["DLT_S3_KEY"],
            "aws_secret_access_key": os.environ["DLT_S3_SECRET"],
            "endpoint_url": os.environ["DLT_S3_ENDPOINT"],
            "region_name": "us-east-1",
        },
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_klines_{int(time.time())}", destination=destination, dataset_name="market"
    )
    started = time.monotonic()
    pipeline.run(source)
    seconds = time.monotonic() - started
    trace = pipeline.last_trace
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds() for step in trace.steps if step.finished_at
    }
    rows = trace.last_normalize_info.row_counts.get("klines", 0) if trace.last_normalize_info else 0
    print(json.dumps({"seconds": seconds, "rows": rows, "steps": steps}))


if __name__ == "__main__":
    main()
