"""Dagster for `lake up`: the webserver (UI and GraphQL, which the Airflow bridge calls) and the daemon
(schedules, sensors, backfills, run monitoring), both on the embedded instance ($LAKE_HOME/dagster). The
webserver asks every caller for a login (lake_tools/platform/dagster_web.py): the operator's or the
Airflow bridge's.

Each loads `workspace.yaml` and runs the code location in a code server it spawns itself; those servers
(and the runs they launch) stay in their parent's session, which is how `lake down` finds them even
after the webserver restarted one behind its back.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import requests

from lake import ports
from lake.access import WEB_ROLES, Role
from lake_tools.platform.dagster_web import users_file_body
from lake_tools.stack import Stack, components
from lake_tools.stack.process import ManagedProcess
from lake_tools.stack.secrets import write_private

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

WORKSPACE = str(REPO_ROOT / "workspace.yaml")
DAEMON_HEALTH = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"


def webserver_url(layout: components.StackLayout) -> str:
    return f"http://127.0.0.1:{layout.port(ports.DAGSTER_WEBSERVER)}"


def users_file(layout: components.StackLayout) -> Path:
    return layout.state_dir / "dagster-web-users.json"


def write_users_file(stack: Stack) -> Path:
    """The webserver's users (lake.access.WEB_ROLES) as password digests, in the stack's state (0600)."""
    path = users_file(stack.layout)
    passwords = {str(role): stack.secrets().password("dagster", role) for role in WEB_ROLES}
    write_private(path, users_file_body(passwords))
    return path


def webserver_argv(users: Path, host: str, port: int) -> list[str]:
    """Dagster's webserver behind its login, as a module, not a script: runs fork from it
    (dagster_instance/forkserver_launcher.py says why)."""
    return [
        sys.executable,
        "-m",
        "lake_tools.platform.dagster_web",
        "--users-file",
        str(users),
        "--host",
        host,
        "--port",
        str(port),
        "-w",
        WORKSPACE,
    ]


def daemon_argv() -> list[str]:
    return [sys.executable, "-m", "dagster._daemon", "run", "-w", WORKSPACE]


def processes(
    layout: components.StackLayout, env: dict[str, str], state_dir: Path, stack: Stack
) -> list[ManagedProcess]:
    url = webserver_url(layout)
    login = (str(Role.OPERATOR), stack.secrets().password("dagster", Role.OPERATOR))

    def webserver_up() -> bool:
        try:
            return requests.get(f"{url}/server_info", auth=login, timeout=2).ok
        except requests.RequestException:
            return False

    def daemon_up() -> bool:
        """Every daemon Dagster requires has sent a heartbeat (read through the webserver)."""
        try:
            answer = requests.post(f"{url}/graphql", json={"query": DAEMON_HEALTH}, auth=login, timeout=5).json()
            statuses = answer["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return False
        return all(status["healthy"] for status in statuses if status["required"])

    common = {"state_dir": state_dir, "log_dir": layout.log_dir, "env": env, "cwd": REPO_ROOT, "start_timeout": 180}
    return [
        ManagedProcess(
            name="dagster-webserver",
            argv=webserver_argv(users_file(layout), "127.0.0.1", layout.port(ports.DAGSTER_WEBSERVER)),
            healthy=webserver_up,
            prepare=partial(write_users_file, stack),  # this stack's users, written anew each start
            **common,  # type: ignore[arg-type]
        ),
        ManagedProcess(name="dagster-daemon", argv=daemon_argv(), healthy=daemon_up, **common),  # type: ignore[arg-type]
    ]
