"""The `lake` command: the embedded stack, bootstrap, doctor, and the entry points of the other packages."""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lake.settings import LakeSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from lake_tools.compose.engine import DockerEngine

REPO_ROOT = Path(__file__).resolve().parent.parent


def _stack(settings: LakeSettings):  # type: ignore[no-untyped-def]  # lazy: psycopg2 only when needed
    from lake_tools.stack import Stack

    return Stack.for_settings(settings)


def cmd_stack_up(settings: LakeSettings, args: argparse.Namespace) -> int:
    for line in _stack(settings).up(spark_cluster=args.spark_cluster):
        print(line)
    return 0


def cmd_stack_down(settings: LakeSettings, _: argparse.Namespace) -> int:
    for line in _stack(settings).down():
        print(line)
    return 0


def cmd_stack_status(settings: LakeSettings, _: argparse.Namespace) -> int:
    return _report(settings, _stack(settings).status(), "lake stack up")


def _report(settings: LakeSettings, statuses: list[Any], restart: str) -> int:
    """One line per process; which died and where their logs are; non-zero unless all run."""
    from lake_tools.stack import ProcessState

    for status in statuses:
        print(status.line())
    died = [s.name for s in statuses if s.state is ProcessState.DIED]
    if died:
        print(f"died: {', '.join(died)} — see {settings.home / 'logs'}/<name>.log; `{restart}` restarts them")
    return 0 if all(s.state is ProcessState.RUNNING for s in statuses) else 1


def cmd_up(settings: LakeSettings, args: argparse.Namespace) -> int:
    from lake_tools.platform import Platform

    if args.offline and importlib.util.find_spec("market_sim") is None:
        print("lake up: --offline needs the simulator: pip install 'lake-ingest[simulator]'", file=sys.stderr)
        return 2
    # Each component is printed as it becomes healthy: start-up takes a minute or two.
    for line in Platform(settings).up(offline=args.offline, workers=args.workers):
        print(line, flush=True)
    return 0


def cmd_status(settings: LakeSettings, _: argparse.Namespace) -> int:
    from lake_tools.platform import Platform

    return _report(settings, Platform(settings).status(), "lake up")


def cmd_down(settings: LakeSettings, _: argparse.Namespace) -> int:
    from lake_tools.platform import Platform

    for line in Platform(settings).down():
        print(line, flush=True)
    return 0


def cmd_bootstrap(settings: LakeSettings, _: argparse.Namespace) -> int:
    from lake_tools.bootstrap import bootstrap

    for line in bootstrap(settings):
        print(line)
    return 0


def cmd_doctor(settings: LakeSettings, _: argparse.Namespace) -> int:
    from lake_tools.doctor import run_checks

    checks = run_checks(settings)
    for check in checks:
        print(check.line())
    failed = [c.component for c in checks if c.required and not c.ok]
    if failed:
        print(f"\n{len(failed)} required component(s) down: {', '.join(failed)}")
        return 1
    return 0


def cmd_validate(settings: LakeSettings, _: argparse.Namespace) -> int:
    """The settings (already loaded), the endpoint file and the landings file, each error with its line."""
    from scrapworker.endpoints import endpoints_for
    from scrapworker.landings import BUILTIN_LANDINGS, landings_for

    endpoints = endpoints_for(settings.crawler)
    landings = landings_for(settings.crawler)
    print(f"settings: ok; endpoints: {len(endpoints.endpoints)} ({', '.join(endpoints.endpoints)})")
    print(f"landings ({settings.crawler.landings_file or BUILTIN_LANDINGS}):")
    for landing in landings:
        extras = [f"typed: {landing.typed}"] * bool(landing.typed) + ["history"] * landing.history
        values = ", ".join("/".join(str(v) for v in params.values()) for params in landing.param_sets)
        print(f"  {landing.asset_name}: {landing.endpoint} x {len(landing.param_sets)} ({values})", *extras, sep="; ")
    return 0


def cmd_settings(settings: LakeSettings, _: argparse.Namespace) -> int:
    from lake.catalog_config import redact

    flat = {
        f"LAKE_{section.upper()}__{key.upper()}": str(value)
        for section, values in settings.model_dump(exclude={"home"}).items()
        for key, value in values.items()
    }
    for key, value in sorted(redact({"LAKE_HOME": str(settings.home), **flat}).items()):
        print(f"{key}={value}")
    return 0


def cmd_query(settings: LakeSettings, args: argparse.Namespace) -> int:
    """`lake query "SQL"`: DuckDB reads the lake through the same Nessie REST catalog; prints a table.

    On the embedded stack it reads as the reader identity (lake.access), which cannot write anything."""
    import os

    from lake_tools.query import QueryError, print_table, query

    reader = _stack(settings).identity_env_file("reader")
    if not os.environ.get("LAKE_ENV_FILE") and reader.is_file():
        settings = load_settings(env_file=reader)
    try:
        columns, rows = query(settings, args.sql, limit=args.limit)
    except QueryError as exc:
        print(f"lake query: {exc}", file=sys.stderr)
        return 1
    if args.json:
        import json

        print(json.dumps({"columns": columns, "rows": [list(row) for row in rows[: args.limit]]}, default=str))
    else:
        print_table(columns, rows, limit=args.limit)
    return 0


def cmd_dagster(settings: LakeSettings, args: argparse.Namespace) -> int:
    """Run a `dagster` command against the embedded instance; `lake dagster dev` is the webserver (behind
    its login, as `lake up` runs it) and the daemon in the foreground, never Dagster's own unauthenticated
    `dagster dev`."""
    import subprocess

    from lake.settings import default_env_file
    from lake_tools.dagster_home import environment

    env = environment(settings, default_env_file())
    if args.dagster_args[:1] == ["dev"]:
        return _dagster_dev(settings, args.dagster_args[1:], env)
    command = [str(Path(sys.executable).parent / "dagster"), *args.dagster_args]
    return subprocess.call(command, env=env, cwd=REPO_ROOT)


def dagster_dev_options(settings: LakeSettings, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lake dagster dev", add_help=False)
    # The port the settings give Dagster's webserver (the stack's port plan), so that the bridge and
    # `lake` reach this webserver as they would `lake up`'s; it stands in for that one, never beside it.
    parser.add_argument("-p", "--port", type=int, default=urlsplit(settings.dagster.url).port)
    parser.add_argument("-h", "--host", default="127.0.0.1")
    return parser.parse_args(argv)


def _dagster_dev(settings: LakeSettings, argv: list[str], env: dict[str, str]) -> int:
    import subprocess

    from lake_tools.platform.dagster import daemon_argv, webserver_argv, write_users_file

    options = dagster_dev_options(settings, argv)
    users_file = write_users_file(_stack(settings))
    print(f"lake dagster dev: http://{options.host}:{options.port} (user operator: LAKE_DAGSTER__PASSWORD)", flush=True)
    children = [
        subprocess.Popen(webserver_argv(users_file, options.host, options.port), env=env, cwd=REPO_ROOT),
        subprocess.Popen(daemon_argv(), env=env, cwd=REPO_ROOT),
    ]
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait(timeout=60)
    return max(child.returncode or 0 for child in children)


def cmd_demo(settings: LakeSettings, args: argparse.Namespace) -> int:
    from lake_tools.demo import main as demo

    return demo(settings, args.demo_args)


def cmd_bridge(_: LakeSettings, args: argparse.Namespace) -> int:
    """`lake bridge generate [--check]`: the Airflow DAGs from the Dagster definitions."""
    if args.bridge_args[:1] != ["generate"]:
        print("usage: lake bridge generate [--check] [--out DIR]", file=sys.stderr)
        return 2
    from lake_assets.airflow_dags import main as generate

    return generate(args.bridge_args[1:])


def cmd_compose(settings: LakeSettings, args: argparse.Namespace) -> int:
    """`lake compose engine up|down|status`, `env`, `build`, `up`, `down [--volumes]`, `ps`."""
    from lake_tools.compose.engine import DockerEngine, EngineError
    from lake_tools.compose.project import ComposeProject

    engine = DockerEngine(settings.docker.data_root, settings.home / "docker")
    try:
        if args.compose_command == "env":
            from lake_tools.compose.project import ENV_FILE, complete_env_file

            complete_env_file(ENV_FILE)
            print(f"{ENV_FILE}: every secret set, and what the services read rendered from them (never printed)")
            return 0
        if args.compose_command == "engine":
            return _engine_command(engine, args.engine_action)
        found = engine.up() if args.compose_command in ("build", "up") else engine.find()
        if found is None:
            print("lake compose: no Docker engine answers (`lake compose engine up` starts one)", file=sys.stderr)
            return 1
        stack = ComposeProject(found, standins=not args.registry, offline=not args.exchange)
        if args.compose_command == "ps":
            return stack.run("ps", capture=False, check=False).returncode
        if args.compose_command == "build":
            lines = stack.build()
        elif args.compose_command == "up":
            lines = itertools.chain(stack.build(), stack.up())
        else:
            lines = stack.down(volumes=args.volumes)
        for line in lines:
            print(line, flush=True)
    except EngineError as exc:
        print(f"lake compose: {exc}", file=sys.stderr)
        return 1
    return 0


def _engine_command(engine: DockerEngine, action: str) -> int:
    if action == "up":
        found = engine.up()
        print(f"docker engine: {found.host}" + (" (started here)" if found.ours else " (already running)"))
    elif action == "down":
        print("docker engine: " + ("stopped" if engine.down() else "not started here; left alone"))
    else:
        found_or_none = engine.find()
        print(f"docker engine: {found_or_none.host}" if found_or_none else "docker engine: none answers")
        return 0 if found_or_none else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lake", description="Batch ingestion into an Iceberg lake.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="the whole platform: stack, workers, Dagster and Airflow; returns when all are healthy"
    )
    up.add_argument("--offline", action="store_true", help="crawl the local market-API simulator, not Binance")
    up.add_argument("--workers", type=int, default=1, help="scrapworker processes (1..16, default 1)")
    up.set_defaults(handler=cmd_up)
    commands.add_parser("status", help="one line per platform process, with its URL or PID").set_defaults(
        handler=cmd_status
    )
    commands.add_parser("down", help="stop everything `lake up` started, by PID").set_defaults(handler=cmd_down)

    stack = commands.add_parser("stack", help="the embedded PostgreSQL + Redis + SeaweedFS + Nessie stack")
    stack_commands = stack.add_subparsers(dest="stack_command", required=True)
    stack_up = stack_commands.add_parser("up", help="start what is not running and write $LAKE_HOME/lake.env")
    stack_up.add_argument(
        "--spark-cluster",
        action="store_true",
        help="also a Spark standalone master and worker; jobs then submit to it (LAKE_SPARK__MASTER)",
    )
    stack_up.set_defaults(handler=cmd_stack_up)
    stack_commands.add_parser("down", help="stop what `up` started, by PID").set_defaults(handler=cmd_stack_down)
    stack_commands.add_parser("status", help="one line per component").set_defaults(handler=cmd_stack_status)

    compose = commands.add_parser("compose", help="the production-shaped Docker Compose stack (docker/)")
    compose.add_argument(
        "--registry", action="store_true", help="pull the official images instead of building local stand-ins"
    )
    compose.add_argument(
        "--exchange", action="store_true", help="crawl the real exchange, not the market simulator container"
    )
    compose_commands = compose.add_subparsers(dest="compose_command", required=True)
    engine = compose_commands.add_parser("engine", help="the Docker engine: one that runs, or dockerd started here")
    engine.add_argument("engine_action", choices=["up", "down", "status"])
    compose_commands.add_parser(
        "env", help="complete docker/.env: generate missing secrets, render what the services read from them"
    )
    compose_commands.add_parser("build", help="build every image the stack runs (cached)")
    compose_commands.add_parser("up", help="build what is missing, then start the stack and wait until healthy")
    compose_down = compose_commands.add_parser("down", help="stop and remove the containers (volumes kept)")
    compose_down.add_argument("--volumes", action="store_true", help="also remove the named volumes: all data")
    compose_commands.add_parser("ps", help="the stack's containers and their health")
    compose.set_defaults(handler=cmd_compose)

    commands.add_parser("bootstrap", help="create the raw bucket and Iceberg namespaces").set_defaults(
        handler=cmd_bootstrap
    )
    commands.add_parser("doctor", help="check every component, with remedies").set_defaults(handler=cmd_doctor)
    commands.add_parser(
        "validate", help="check the settings, the endpoint file and the landings file (errors with lines)"
    ).set_defaults(handler=cmd_validate)
    commands.add_parser("settings", help="print the effective settings, secrets masked").set_defaults(
        handler=cmd_settings
    )
    query = commands.add_parser(
        "query", help='read the lake with DuckDB: lake query "select count(*) from market.klines"'
    )
    query.add_argument("sql", help="one SQL statement; tables as namespace.table (catalog 'lake' is the default)")
    query.add_argument("--limit", type=int, default=100, help="rows printed at most (default 100)")
    query.add_argument("--json", action="store_true", help='one JSON object: {"columns": [...], "rows": [[...]]}')
    query.set_defaults(handler=cmd_query)
    dagster = commands.add_parser("dagster", help="a dagster command on the embedded instance (`lake dagster dev`)")
    dagster.add_argument("dagster_args", nargs=argparse.REMAINDER)
    dagster.set_defaults(handler=cmd_dagster)
    demo = commands.add_parser("demo", help="the scraper pipeline end to end (--offline: on the simulator)")
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(handler=cmd_demo)
    bridge = commands.add_parser("bridge", help="`lake bridge generate [--check]`: Airflow DAGs from the assets")
    bridge.add_argument("bridge_args", nargs=argparse.REMAINDER)
    bridge.set_defaults(handler=cmd_bridge)
    return parser


# Commands whose own options pass through untouched (`lake demo --offline`, `lake dagster dev -p 3001`).
PASSTHROUGH = {"demo": "demo_args", "dagster": "dagster_args", "bridge": "bridge_args"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in PASSTHROUGH:
        args = build_parser().parse_args(argv[:1])
        setattr(args, PASSTHROUGH[argv[0]], argv[1:])
    else:
        args = build_parser().parse_args(argv)
    handler: Callable[[LakeSettings, argparse.Namespace], int] = args.handler
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"lake: {exc}", file=sys.stderr)
        return 2
    try:
        return handler(settings, args)
    except Exception as exc:
        from lake_tools.stack import StackError
        from scrapworker.yaml_config import ConfigError

        if isinstance(exc, StackError | SettingsError | ConfigError):
            print(f"lake: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
