"""Nessie branches for write-audit-publish: a small client of Nessie's REST API v2, and the WAP branch names.

A run writes its table on a branch of its own, its checks read that branch, and only a passing run is
merged into the target branch (main). Nessie merges atomically: one commit on the target carrying every
change of the branch, or, on a conflict, nothing at all.

Merges are checked against the target's hash *as seen when the branch was created* (`main@<base>`): Nessie
then refuses the merge only when a table the branch changed was also changed on the target since then
(HTTP 409), so runs writing other tables never block each other, and a concurrent write to the same table
is never overwritten silently.

WAP branch names carry their creation time (`wap-20261101T001500-seed.partitioned_data-1a2b3c4d`): a
branch's HEAD commit says when it was last written, not when it was made (a fresh branch shows main's last
commit), so the retention reads the name. Names that do not parse are never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from lake.access import WAP_BRANCH_PREFIX
from lake.catalog_config import nessie_api_uri, oauth2_server_uri
from lake.settings import LakeSettings

WAP_PREFIX = WAP_BRANCH_PREFIX  # "wap-": the writer identity may delete these (lake.access)
_STAMP_FORMAT = "%Y%m%dT%H%M%S"
_STAMP = r"\d{8}T\d{6}"
# Nessie's reference names (org.projectnessie.model.Validation.REF_NAME_REGEX) ...
_NESSIE_REF_NAME = re.compile(r"[A-Za-z](?:(?:(?![.][.])[A-Za-z0-9./_-])*[A-Za-z0-9_-])?")
# ... and what LAKE_CATALOG__BRANCH accepts (lake.settings.CatalogSettings.branch): both must hold.
_SETTINGS_BRANCH = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_RUN_ID_CHARS = 8  # the short run id Dagster's UI shows


class NessieApiError(RuntimeError):
    """Nessie answered with an error; the message carries its status, error code and reason."""

    def __init__(self, action: str, status: int, error_code: str, reason: str) -> None:
        super().__init__(f"Nessie: {action} failed (HTTP {status} {error_code}): {reason}")
        self.status, self.error_code, self.reason = status, error_code, reason


class NessieNotFoundError(NessieApiError, LookupError):
    """HTTP 404: no such reference (error code REFERENCE_NOT_FOUND) or no such table on it (CONTENT_NOT_FOUND)."""


class BranchExistsError(NessieApiError):
    pass


class MergeConflictError(RuntimeError):
    """The target branch changed a table the branch also changed: nothing was merged. Retrying the whole
    write on a fresh branch (from the target's new head) resolves it."""

    def __init__(self, branch: str, target: str, tables: list[str], reason: str) -> None:
        what = ", ".join(tables) if tables else "a table of the branch"
        super().__init__(
            f"merge of Nessie branch {branch!r} into {target!r} conflicts on {what}: {target} changed it since "
            f"the branch was made; nothing was merged ({reason})"
        )
        self.branch, self.target, self.tables = branch, target, tables


@dataclass(frozen=True)
class Branch:
    name: str
    hash: str


class NessieBranches:
    """Branches of one Nessie server: create, read a head (now or at a time), read a table's metadata location,
    merge, delete, list."""

    def __init__(self, api_uri: str, token: str | None = None, timeout: float = 30) -> None:
        self.api_uri = api_uri.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_settings(cls, settings: LakeSettings) -> NessieBranches:
        return cls(nessie_api_uri(settings), token=catalog_token(settings))

    def default_branch(self) -> str:
        return str(self._request("GET", "/config", "read the server config")["defaultBranch"])

    def hash_of(self, name: str) -> str:
        """The current HEAD hash of a branch (or tag)."""
        return str(self._request("GET", f"/trees/{name}", f"read reference {name!r}")["reference"]["hash"])

    def hash_at(self, name: str, when: datetime) -> str | None:
        """The commit `name`'s history held at `when` (the newest not after it), None when it had none yet."""
        millis = int(when.timestamp() * 1000)
        answer = self._request(
            "GET", f"/trees/{name}@*{millis}/history", f"read the history of {name!r}", params={"max-records": "1"}
        )
        entries = answer.get("logEntries") or []
        return str(entries[0]["commitMeta"]["hash"]) if entries else None

    def metadata_location(self, ref: str, table: str, at_hash: str | None = None) -> str | None:
        """Where `table`'s Iceberg metadata is on `ref` (at `at_hash`, else its HEAD); None when it is not there."""
        where = f"{ref}@{at_hash}" if at_hash else ref
        try:
            answer = self._request("GET", f"/trees/{where}/contents/{table}", f"read {table} on {where!r}")
        except NessieNotFoundError as exc:
            if exc.error_code == "CONTENT_NOT_FOUND":
                return None
            raise
        content = answer["content"]
        return str(content["metadataLocation"]) if content.get("type") == "ICEBERG_TABLE" else None

    def create_branch(self, name: str, source: str, source_hash: str | None = None) -> Branch:
        """A new branch at `source`'s `source_hash` (else its current HEAD)."""
        source_hash = source_hash or self.hash_of(source)
        body = {"type": "BRANCH", "name": source, "hash": source_hash}
        answer = self._request(
            "POST", "/trees", f"create branch {name!r}", params={"name": name, "type": "BRANCH"}, json=body
        )
        return Branch(name, str(answer["reference"]["hash"]))

    def merge(
        self, branch: str, into: str, expected_hash: str, from_hash: str | None = None, message: str | None = None
    ) -> str:
        """Merge `branch` (at `from_hash`, else its HEAD) into `into`; returns `into`'s new HEAD hash.

        `expected_hash` is the state of `into` the branch's content was made against (its base): Nessie
        refuses the merge with MergeConflictError if `into` changed any of the branch's tables since.
        """
        body: dict[str, Any] = {"fromRefName": branch, "fromHash": from_hash or self.hash_of(branch)}
        if message:
            body["commitMeta"] = {"message": message}
        try:
            answer = self._request(
                "POST", f"/trees/{into}@{expected_hash}/history/merge", f"merge {branch!r} into {into!r}", json=body
            )
        except NessieApiError as exc:
            if exc.status == 409:
                raise MergeConflictError(branch, into, _conflicting_tables(exc.reason), exc.reason) from None
            raise
        return str(answer["resultantTargetHash"])

    def delete_branch(self, name: str, expected_hash: str | None = None) -> None:
        """Delete a branch; with `expected_hash`, only if it is still there (Nessie needs a hash to delete)."""
        expected_hash = expected_hash or self.hash_of(name)
        self._request("DELETE", f"/trees/{name}@{expected_hash}", f"delete branch {name!r}", params={"type": "BRANCH"})

    def branches(self, prefix: str = "") -> list[Branch]:
        """Every branch whose name starts with `prefix`."""
        return [
            Branch(ref["name"], ref["hash"])
            for ref in self._references()
            if ref.get("type") == "BRANCH" and str(ref["name"]).startswith(prefix)
        ]

    def references(self) -> list[Branch]:
        """Every branch and every tag, at its current hash."""
        return [Branch(ref["name"], ref["hash"]) for ref in self._references()]

    def _references(self) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            params = {"max-records": "500"} | ({"page-token": token} if token else {})
            answer = self._request("GET", "/trees", "list references", params=params)
            yield from answer["references"]
            token = answer.get("token")
            if not answer.get("hasMore") or not token:
                return

    def _request(self, method: str, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        response = self._session.request(method, self.api_uri + path, timeout=self.timeout, **kwargs)
        if response.ok:
            return dict(response.json())
        try:
            error = response.json()
        except ValueError:
            error = {}
        code, reason = str(error.get("errorCode", "")), str(error.get("message") or response.text[:500])
        if response.status_code == 404:
            raise NessieNotFoundError(action, 404, code, reason)
        if code == "REFERENCE_ALREADY_EXISTS":
            raise BranchExistsError(action, response.status_code, code, reason)
        raise NessieApiError(action, response.status_code, code, reason)


def wap_branch_name(asset: str, run_id: str, now: datetime | None = None, prefix: str = WAP_PREFIX) -> str:
    """`wap-<UTC creation time>-<asset>-<short run id>`: made by a run for an asset, at most 64 characters.

    The asset part is cut to fit; the time and the run id stay whole, so a name is unique per run and asset
    (to the second) and its age is readable without asking Nessie.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP_FORMAT)
    run = re.sub(r"[^A-Za-z0-9]", "", run_id)[:_RUN_ID_CHARS] or "run"
    room = 64 - len(prefix) - len(stamp) - len(run) - 2
    slug = re.sub(r"[^A-Za-z0-9_.-]", ".", asset)
    slug = re.sub(r"\.{2,}", ".", slug).strip(".-")[:room].strip(".-") or "asset"
    name = f"{prefix}{stamp}-{slug}-{run}"
    if not (_NESSIE_REF_NAME.fullmatch(name) and _SETTINGS_BRANCH.fullmatch(name)):
        raise ValueError(f"{name!r} is not a valid branch name (prefix {prefix!r}?)")
    return name


def branch_created_at(name: str, prefix: str = WAP_PREFIX) -> datetime | None:
    """When a WAP branch was made, from its name; None for a name not made by wap_branch_name."""
    found = re.match(rf"{re.escape(prefix)}({_STAMP})-", name)
    return datetime.strptime(found.group(1), _STAMP_FORMAT).replace(tzinfo=UTC) if found else None


def prune_wap_branches(
    client: NessieBranches, max_age: timedelta, now: datetime | None = None, prefix: str = WAP_PREFIX
) -> list[str]:
    """Delete the WAP branches made more than `max_age` ago; returns the names deleted.

    Each is deleted at the hash it was listed with, so a branch written to meanwhile is kept (Nessie
    answers 409), as is one already gone.
    """
    cutoff = (now or datetime.now(UTC)) - max_age
    deleted = []
    for branch in client.branches(prefix):
        created = branch_created_at(branch.name, prefix)
        if created is None or created >= cutoff:
            continue
        try:
            client.delete_branch(branch.name, branch.hash)
        except NessieApiError as exc:
            if exc.status in (404, 409):
                continue
            raise
        deleted.append(branch.name)
    return deleted


def on_branch(settings: LakeSettings, branch: str) -> LakeSettings:
    """The same settings with every engine's catalog on `branch` (`/iceberg/<branch>`), validated."""
    catalog = settings.catalog.model_validate(settings.catalog.model_dump() | {"branch": branch})
    return settings.model_copy(update={"catalog": catalog})


def _conflicting_tables(reason: str) -> list[str]:
    # "The following keys have been changed in conflict: 'seed.t1', 'market.klines'"
    _, _, keys = reason.partition(":")
    return re.findall(r"'([^']+)'", keys)


def catalog_token(settings: LakeSettings) -> str | None:
    """The catalog's bearer token: the configured one, or one from its OAuth2 client credentials, as
    pyiceberg and Spark obtain theirs."""
    if settings.catalog.token is not None:
        return settings.catalog.token.get_secret_value()
    credential = settings.catalog.credential
    if credential is None:
        return None
    client_id, _, client_secret = credential.get_secret_value().partition(":")
    response = requests.post(
        oauth2_server_uri(settings),
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "catalog",
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])
