"""Dagster's webserver with a login: its own ASGI app, wrapped in HTTP Basic authentication.

Dagster OSS has no authentication of its own; deployments put something in front. A reverse proxy leaves
the webserver's own port open to anyone who reaches it (on a shared machine, every local user); wrapping
the app leaves no unauthenticated listener at all, and the same code guards the embedded platform and the
compose stack's `dagster-webserver` container. Browsers ask for the login themselves (WWW-Authenticate),
and repeat it on the UI's websocket; the Airflow bridge sends its connection's login and password.

    python -m lake_tools.platform.dagster_web --users-file FILE [dagster-webserver options...]
    python -m lake_tools.platform.dagster_web --users-env VARIABLE [dagster-webserver options...]

The users (JSON, in a 0600 file or an environment variable) map each user to the SHA-256 hex digest of
its password, so they hold nothing a reader could log in with. Everything after is dagster-webserver's
own command line, run by its own CLI.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import types
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REALM = "dagster"


def password_digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def users_file_body(passwords: dict[str, str]) -> str:
    return json.dumps({user: password_digest(password) for user, password in passwords.items()})


class BasicAuth:
    """Pure ASGI: every http and websocket request carries a known user's password, or is refused."""

    def __init__(self, app: ASGIApp, digests: dict[str, str]) -> None:
        if not digests:
            raise ValueError("no users: the webserver would refuse everyone")
        self.app = app
        self.digests = digests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        start = {
            "status": 401,
            "headers": [
                (b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()),
                (b"content-type", b"text/plain; charset=utf-8"),
            ],
        }
        body = b"Dagster: log in (HTTP Basic) with a user of this lake\n"
        kind = "http"
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            if "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008})  # refused before accepting (HTTP 403)
                return
            kind = "websocket.http"  # the handshake itself answers 401, as an HTTP request would
        await send({"type": f"{kind}.response.start", **start})
        await send({"type": f"{kind}.response.body", "body": body})

    def _allowed(self, scope: Scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, value = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Compared in constant time, and the digest of a wrong user too, so timing tells nothing.
        expected = self.digests.get(user, "0" * 64)
        return hmac.compare_digest(password_digest(password), expected) and user in self.digests


def load_digests(source: str, where: str) -> dict[str, str]:
    """The users from `--users-file PATH` or `--users-env VARIABLE`; a short error naming what is wrong."""
    try:
        text = Path(where).read_text() if source == "--users-file" else os.environ[where]
        digests = json.loads(text)
    except (OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"dagster_web: cannot read the users ({source} {where}): {exc!r}") from None
    if not isinstance(digests, dict) or not digests:
        raise SystemExit(f"dagster_web: {source} {where} must map user names to password digests")
    return {str(user): str(digest) for user, digest in digests.items()}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] not in ("--users-file", "--users-env"):
        raise SystemExit(
            "usage: python -m lake_tools.platform.dagster_web --users-file FILE|--users-env VARIABLE [options]"
        )
    digests = load_digests(args[0], args[1])
    if args[0] == "--users-env":
        os.environ.pop(args[1], None)  # nothing the code servers it starts need

    import uvicorn
    from dagster_webserver import cli

    # dagster-webserver builds its app and hands it to `uvicorn.run` in one function; its CLI (workspace,
    # instance, code servers, shutdown) stays Dagster's own, and only the app it serves is wrapped. If a
    # Dagster release stops calling uvicorn through that module name, refuse to start without the login.
    if getattr(cli, "uvicorn", None) is not uvicorn:
        raise SystemExit("dagster_web: this dagster-webserver no longer serves through uvicorn.run; no login to attach")

    def run_with_login(app: ASGIApp, **options: Any) -> None:
        uvicorn.run(BasicAuth(app, digests), **options)

    cli.uvicorn = types.SimpleNamespace(run=run_with_login)  # type: ignore[attr-defined, assignment]
    sys.argv = ["dagster-webserver", *args[2:]]
    cli.main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
