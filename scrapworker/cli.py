"""`scrapworker`: run a worker, enqueue and inspect jobs, manage dead letters, validate endpoint files."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from pydantic import ValidationError

from lake.settings import LakeSettings, SettingsError, load_settings
from scrapworker.endpoints import BUILTIN_CONFIG, ConfigError, endpoints_for, load_endpoints
from scrapworker.landings import load_landings
from scrapworker.protocol import MAX_PARAM_INT, JobSpec, ParamValue, first_errors, parse_message
from scrapworker.queue import JobQueue, access_refused


def cmd_run(settings: LakeSettings, args: argparse.Namespace) -> int:
    from lake.storage import s3_client
    from scrapworker import logs
    from scrapworker.worker import Worker

    logs.configure(args.log_level)
    worker = Worker(
        queue=JobQueue.from_settings(settings.queue),
        endpoints=endpoints_for(settings.crawler),
        s3=s3_client(settings),
        bucket=settings.s3.raw_bucket,
        concurrency=args.concurrency,
        request_timeout=settings.crawler.request_timeout_seconds,
        retry_times=settings.crawler.retry_times,
        shutdown_grace=settings.crawler.shutdown_grace_seconds,
    )
    if args.worker_id:
        worker.worker_id = args.worker_id
    worker.run()
    return 1 if worker.crashed else 0


def cmd_enqueue(settings: LakeSettings, args: argparse.Namespace) -> int:
    if args.json:
        text = sys.stdin.read() if args.json == "-" else args.json
        spec = parse_message(text)
    else:
        window = None
        if args.window_start or args.window_end:
            window = {"start": args.window_start, "end": args.window_end}
        spec = JobSpec.model_validate(
            {
                "job_id": args.job_id,
                "endpoint": args.endpoint,
                "params": dict(_parse_param(p) for p in args.param),
                "window": window,
                "landing_prefix": args.prefix,
            }
        )
    endpoints_for(settings.crawler).check_job(spec)
    status = JobQueue.from_settings(settings.queue).enqueue(spec, rerun=args.rerun)
    print(json.dumps({"job_id": status.job_id, "state": status.state.value}))
    return 0


def cmd_status(settings: LakeSettings, args: argparse.Namespace) -> int:
    queue = JobQueue.from_settings(settings.queue)
    status = queue.wait(args.job_id, args.wait) if args.wait else queue.status(args.job_id)
    if status is None:
        print(f"scrapworker: no job {args.job_id!r}", file=sys.stderr)
        return 1
    print(status.model_dump_json(indent=2, exclude={"spec"}))
    return 0 if status.state.value in ("succeeded", "queued", "running") else 3


def cmd_dlq_list(settings: LakeSettings, args: argparse.Namespace) -> int:
    for letter in JobQueue.from_settings(settings.queue).dead_letters(args.limit):
        print(json.dumps(letter.__dict__))
    return 0


def cmd_dlq_requeue(settings: LakeSettings, args: argparse.Namespace) -> int:
    if not args.all and not args.job_id:
        print("scrapworker: name a JOB_ID or pass --all", file=sys.stderr)
        return 2
    requeued = JobQueue.from_settings(settings.queue).requeue_dead(None if args.all else args.job_id)
    print(json.dumps({"requeued": requeued}))
    return 0 if requeued else 1


def cmd_validate_config(_: LakeSettings | None, args: argparse.Namespace) -> int:
    endpoints = load_endpoints(args.file)
    print(f"{args.file}: ok ({len(endpoints.endpoints)} endpoints: {', '.join(endpoints.endpoints)})")
    if args.landings:
        landings = load_landings(endpoints, args.landings)
        print(f"{args.landings}: ok ({len(landings)} landings: {', '.join(landing.name for landing in landings)})")
    return 0


def _parse_param(text: str) -> tuple[str, ParamValue]:
    name, sep, raw = text.partition("=")
    if not sep:
        raise SystemExit(f"scrapworker: --param expects name=value, got {text!r}")
    value: ParamValue = raw
    digits = raw.removeprefix("-")
    if digits.isdigit():
        # Sized before converting: Python refuses to convert more than 4300 digits, and the protocol carries
        # integers up to 2**53 (16 digits).
        if len(digits) > len(str(MAX_PARAM_INT)):
            raise SystemExit(
                f"scrapworker: --param {name}: an integer of {len(digits)} digits is out of range "
                f"(at most ±{MAX_PARAM_INT})"
            )
        value = int(raw)
    elif raw in ("true", "false"):
        value = raw == "true"
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrapworker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="lease and crawl jobs until SIGTERM")
    run.add_argument("--concurrency", type=int, default=4, help="jobs crawled at once (default 4)")
    run.add_argument("--worker-id", help="name in the queue's records (default host:pid:random)")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(handler=cmd_run)

    enqueue = commands.add_parser("enqueue", help="queue a job (idempotent by job id)")
    enqueue.add_argument("--json", help="the whole job spec as JSON ('-' reads stdin)")
    enqueue.add_argument("--job-id")
    enqueue.add_argument("--endpoint")
    enqueue.add_argument("--param", action="append", default=[], help="name=value (repeatable)")
    enqueue.add_argument("--window-start", type=datetime.fromisoformat)
    enqueue.add_argument("--window-end", type=datetime.fromisoformat)
    enqueue.add_argument("--prefix", help="landing prefix inside the raw bucket")
    enqueue.add_argument("--rerun", action="store_true", help="re-queue a finished job (same keys)")
    enqueue.set_defaults(handler=cmd_enqueue)

    status = commands.add_parser("status", help="a job's status and history")
    status.add_argument("job_id")
    status.add_argument("--wait", type=float, metavar="SECONDS", help="block until the job finishes")
    status.set_defaults(handler=cmd_status)

    dlq = commands.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq.add_parser("list")
    dlq_list.add_argument("--limit", type=int, default=100)
    dlq_list.set_defaults(handler=cmd_dlq_list)
    requeue = dlq.add_parser("requeue", help="give dead jobs a fresh set of attempts")
    requeue.add_argument("job_id", nargs="?")
    requeue.add_argument("--all", action="store_true")
    requeue.set_defaults(handler=cmd_dlq_requeue)

    validate = commands.add_parser(
        "validate-config", help="check an endpoint file (and a landings file against it); every error with its line"
    )
    validate.add_argument("file", type=Path, nargs="?", default=BUILTIN_CONFIG, help="default: the shipped one")
    validate.add_argument("--landings", type=Path, help="a landings file to check against the endpoint file")
    validate.set_defaults(handler=cmd_validate_config, needs_settings=False)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings() if getattr(args, "needs_settings", True) else None
        result: int = args.handler(settings, args)
        return result
    except (SettingsError, ConfigError) as exc:
        print(f"scrapworker: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a bad job spec: each field named, values cut short
        print(f"scrapworker: invalid job: {first_errors(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad message (MessageError) or parameters (JobRejectedError)
        print(f"scrapworker: {_first_line(exc)}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:  # Redis down, or refusing who we are: one line, no traceback
        refused = access_refused(exc, settings.queue.username if settings else None)
        print(f"scrapworker: {refused or f'the job queue is unreachable: {_first_line(exc)}'}", file=sys.stderr)
        return 1


def _first_line(exc: Any) -> str:
    return str(exc).strip()


if __name__ == "__main__":
    sys.exit(main())
