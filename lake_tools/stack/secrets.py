"""Credentials for the embedded stack: generated once per LAKE_HOME, never committed or printed.

They outlive `lake stack down` so that the data written under them stays readable after `up`.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackSecrets:
    postgres_password: str
    s3_access_key_id: str
    s3_secret_access_key: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> StackSecrets:
        path = state_dir / "secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        created = cls(
            postgres_password=secrets.token_urlsafe(18),
            s3_access_key_id="lake" + secrets.token_hex(6),
            s3_secret_access_key=secrets.token_urlsafe(24),
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start rather than chmod-ed after a window of being readable.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(created), handle)
        return created
