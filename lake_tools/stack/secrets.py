"""Credentials for the embedded stack and platform: generated once per LAKE_HOME, never committed or printed.

They outlive `lake stack down` so that the data written under them stays readable after `up`. A secrets
file from before a field existed gains that field, generated, on the next load.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from lake.access import QUEUE_ROLES, S3_ROLES, WEB_ROLES, Role


def _fernet_key() -> str:
    """Airflow encrypts connection passwords with a Fernet key: 32 url-safe base64-encoded bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class StackSecrets:
    postgres_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    s3_access_key_id: str = field(default_factory=lambda: "lake" + secrets.token_hex(6))
    s3_secret_access_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The Airflow UI's `admin` user (simple auth manager), and the keys its components must share:
    # the API server signs task tokens the scheduler's task runners present (JWT secret).
    airflow_admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    airflow_jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    airflow_api_secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    airflow_fernet_key: str = field(default_factory=_fernet_key)
    # One secret per identity (lake.access), keyed "<plane>.<role>": Redis ACL passwords, S3 secret keys,
    # the Dagster webserver's Basic-auth passwords.
    passwords: dict[str, str] = field(default_factory=dict)
    # The private key the stack signs the catalog's bearer tokens with; Nessie holds only its public half.
    catalog_signing_key: str = ""

    @classmethod
    def load_or_create(cls, state_dir: Path) -> StackSecrets:
        path = state_dir / "secrets.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        known = {f.name for f in fields(cls)}
        loaded = cls(**{key: value for key, value in stored.items() if key in known})
        completed = loaded.completed()
        if set(stored) != known or completed != loaded:
            state_dir.mkdir(parents=True, exist_ok=True)
            write_private(path, json.dumps(asdict(completed)))
        return completed

    def completed(self) -> StackSecrets:
        """With a secret for every identity the project knows (a stack from before one existed gains it)."""
        wanted = [f"redis.{role}" for role in QUEUE_ROLES] + [f"s3.{role}" for role in S3_ROLES]
        wanted += [f"dagster.{role}" for role in WEB_ROLES]
        passwords = {name: self.passwords.get(name) or secrets.token_urlsafe(24) for name in wanted}
        signing_key = self.catalog_signing_key or _signing_key()
        if passwords == self.passwords and signing_key == self.catalog_signing_key:
            return self
        return replace(self, passwords=passwords, catalog_signing_key=signing_key)

    def password(self, plane: str, role: Role) -> str:
        return self.passwords[f"{plane}.{role}"]


def _signing_key() -> str:
    from lake_tools.tokens import new_signing_key

    return new_signing_key()


def write_private(path: Path, body: str) -> None:
    """A file only its owner reads (settings, passwords, keys): written 0600 from the start, under a
    temporary name renamed over the old one, rather than chmod-ed after a window of being readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    temporary.replace(path)
