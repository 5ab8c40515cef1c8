"""Who may do what: one identity per role, and each control plane's rules for those identities.

Every listener asks who is calling. A role is a kind of caller, not a process: the Dagster code location
holds the producer's queue identity and the writer's catalog and storage identities, and hands the
maintenance identity only to the maintenance assets. The rules are rendered here, once, for every back
end that enforces them (the embedded stack and docker/compose.yaml alike):

| role        | job queue (Redis)               | S3                                    | catalog (Nessie)          |
|-------------|---------------------------------|---------------------------------------|---------------------------|
| operator    | every queue command, queue keys | everything (creates buckets)          | everything                |
| crawler     | lease, heartbeat, finish        | reads and writes the raw bucket only  | -                         |
| producer    | enqueue, status, wait           | -                                     | -                         |
| writer      | -                               | reads raw, reads and writes warehouse | read, commit, wap- delete |
| maintenance | -                               | reads, writes, deletes in warehouse   | everything                |
| reader      | -                               | reads the warehouse                   | read                      |
| nessie      | -                               | reads and writes the warehouse        | (the server itself)       |

The Dagster webserver has two identities (the operator and the Airflow bridge), Airflow its own admin.
No rule names FLUSHALL, CONFIG, KEYS or any other command outside the queue's: they stay refused to all.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"  # the person: `lake`, `scrapworker dlq requeue`
    CRAWLER = "crawler"  # scrapworker's workers
    PRODUCER = "producer"  # the landing assets, `scrapworker enqueue`
    WRITER = "writer"  # Dagster code: the signals and the Spark writers
    MAINTENANCE = "maintenance"  # compaction, snapshot expiry, orphan files, branch retention
    READER = "reader"  # `lake query` (DuckDB) and anyone who only reads tables
    NESSIE = "nessie"  # the catalog server's own storage key
    BRIDGE = "airflow-bridge"  # Airflow's DAGs, calling Dagster


# Identities on the S3 store (the operator holds the store's admin key) and on Dagster's webserver.
S3_ROLES = (Role.CRAWLER, Role.WRITER, Role.MAINTENANCE, Role.READER, Role.NESSIE)
WEB_ROLES = (Role.OPERATOR, Role.BRIDGE)
# The catalog's bearer tokens: the roles Nessie's authorization rules know.
CATALOG_ROLES = (Role.OPERATOR, Role.WRITER, Role.MAINTENANCE, Role.READER)


# --- the catalog --------------------------------------------------------------------------------------
# The bearer tokens' issuer and audience: Nessie accepts a token only when both are these.
TOKEN_ISSUER = "lake-ingest"  # noqa: S105 - a name, not a secret
TOKEN_AUDIENCE = "nessie"  # noqa: S105 - a name, not a secret
# The branches a write-audit-publish run makes (lake.branches.WAP_PREFIX): the writer may delete these.
WAP_BRANCH_PREFIX = "wap-"
_NESSIE_READS = (
    "VIEW_REFERENCE",
    "READ_ENTRIES",
    "READ_CONTENT_KEY",
    "LIST_COMMIT_LOG",
    "READ_ENTITY_VALUE",
    "READ_REPOSITORY_CONFIG",
)
# Nessie 0.99's CEL rules see `op` (these names), `role` (the token's upn), `ref` and `path`; the Iceberg
# REST operations map onto them (create namespace or table: COMMIT_CHANGE_AGAINST_REFERENCE + CREATE_ENTITY;
# a table commit: UPDATE_ENTITY; drop: DELETE_ENTITY). What no rule allows is refused.
_NESSIE_WRITES = (
    "CREATE_REFERENCE",
    "ASSIGN_REFERENCE_TO_HASH",
    "COMMIT_CHANGE_AGAINST_REFERENCE",
    "CREATE_ENTITY",
    "UPDATE_ENTITY",
)


def _cel_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def nessie_authorization_rules() -> dict[str, str]:
    """Nessie's rules (`nessie.server.authorization.rules.<id>`): the reader reads; the writer also
    commits and makes branches, and deletes only its own write-audit-publish branches, never a table;
    maintenance and the operator may do everything (delete references, drop tables, rewrite)."""
    return {
        "read": f"role in {_cel_list((Role.READER, Role.WRITER))} && op in {_cel_list(_NESSIE_READS)}",
        "write": f"role == '{Role.WRITER}' && op in {_cel_list(_NESSIE_WRITES)}",
        "write_wap_branches": (
            f"role == '{Role.WRITER}' && op == 'DELETE_REFERENCE' && ref.startsWith('{WAP_BRANCH_PREFIX}')"
        ),
        "administer": f"role in {_cel_list((Role.MAINTENANCE, Role.OPERATOR))}",
    }


def s3_access_key_id(role: Role) -> str:
    """Access key ids are not secret: they name the identity in the store's logs and policies."""
    return f"lake-{role}"


# --- S3 ---------------------------------------------------------------------------------------------
def s3_actions(role: Role, raw_bucket: str, warehouse_bucket: str) -> list[str]:
    """What `role` may do, as SeaweedFS names its actions (`Read`: GET and HEAD, `List`, `Write`: PUT,
    multipart and DELETE) scoped `Action:bucket`. The raw bucket holds only landings, so the crawler's
    writes stay under landing prefixes; it reads and lists there too (a landing's pages and manifest decide
    whether a lost lease's landing is complete)."""
    rights: dict[Role, dict[str, tuple[str, ...]]] = {
        Role.CRAWLER: {raw_bucket: ("Read", "List", "Write")},
        Role.WRITER: {raw_bucket: ("Read", "List"), warehouse_bucket: ("Read", "List", "Write")},
        Role.MAINTENANCE: {warehouse_bucket: ("Read", "List", "Write")},
        Role.READER: {warehouse_bucket: ("Read", "List")},
        Role.NESSIE: {warehouse_bucket: ("Read", "List", "Write")},
    }
    return [f"{action}:{bucket}" for bucket, actions in rights[role].items() for action in actions]


def s3_identities(raw_bucket: str, warehouse_bucket: str, secret_keys: dict[Role, str]) -> dict[str, object]:
    """SeaweedFS's identities file (`-s3.config`): one access key per role. The store's admin (the
    operator's key) is the one SeaweedFS makes from its own environment, beside these."""
    return {
        "identities": [
            {
                "name": f"lake-{role}",
                "credentials": [{"accessKey": s3_access_key_id(role), "secretKey": secret_keys[role]}],
                "actions": s3_actions(role, raw_bucket, warehouse_bucket),
            }
            for role in S3_ROLES
        ]
    }


# --- the job queue ------------------------------------------------------------------------------------
QUEUE_ROLES = (Role.OPERATOR, Role.CRAWLER, Role.PRODUCER)

# Every client: the handshake redis-py makes (its CLIENT SETINFO is refused quietly: Redis 7.0 has no such
# command, and redis-py ignores the error), and Redis's clock (the scripts read TIME).
_CONNECTION = ("ping", "hello", "auth", "select", "time")
# redis-py runs a script by EVALSHA and loads it (SCRIPT LOAD) when the server does not know it yet; every
# command a script calls is checked against the caller's rules like a direct one.
_SCRIPTS = ("evalsha", "script|load")
# What scrapworker/queue.py's enqueue script and the producer's reads use.
_PRODUCER = (
    "hget",
    "hgetall",
    "hset",
    "del",
    "persist",
    "rpush",
    "lpush",
    "lrange",
    "llen",
    "subscribe",
    "unsubscribe",
)
# The worker's scripts (lease, heartbeat, finish, reap, reject) and the rate limiter's budget.
_WORKER = (
    "blmove",
    "lmove",
    "lrem",
    "lrange",
    "llen",
    "lpush",
    "rpush",
    "hget",
    "hmget",
    "hgetall",
    "hset",
    "hdel",
    "hincrby",
    "del",
    "exists",
    "expire",
    "pexpire",
    "pttl",
    "persist",
    "get",
    "set",
    "zadd",
    "zrem",
    "zscore",
    "zrangebyscore",
    "publish",
)


# The person inspects and repairs the queue (status, dead letters, requeue, SCAN, TTL) with Redis's read and
# write commands on the queue's keys; nothing @dangerous (FLUSHALL, KEYS, DEBUG) or @admin (CONFIG, ACL).
_OPERATOR = (
    "-@all +@read +@write +@connection +@pubsub +@scripting +@transaction +time -@dangerous -@admin "
    "-script|flush -script|kill"
)


def queue_rules(role: Role) -> str:
    """The commands `role` may run, in Redis ACL syntax."""
    if role is Role.OPERATOR:
        return _OPERATOR
    commands = {Role.CRAWLER: _WORKER, Role.PRODUCER: _PRODUCER}.get(role)
    if commands is None:
        raise ValueError(f"{role} has no identity on the job queue")
    return "-@all " + " ".join(f"+{command}" for command in _CONNECTION + _SCRIPTS + commands)


def _queue_keys(role: Role, prefix: str) -> str:
    """The queue's keys: `<prefix>:...`, and those of its sub-queues `<prefix>-<name>:...` (a deployment's
    second queue, a test's own) — never a key of anything else sharing the Redis."""
    queues = (f"{prefix}:", f"{prefix}-*:")
    if role is Role.PRODUCER:
        # Reads the whole queue (a job's status, the dead letters); writes only what an enqueue touches.
        # (A key passed to a script needs one pattern granting both: `~`, not `%R~` plus `%W~`.)
        writes = " ".join(f"~{queue}{part}" for queue in queues for part in ("job:*", "history:*", "pending"))
        return " ".join([*(f"%R~{queue}*" for queue in queues), writes, *(f"&{queue}events:*" for queue in queues)])
    return " ".join([*(f"~{queue}*" for queue in queues), *(f"&{queue}*" for queue in queues)])


def redis_acl(prefix: str, passwords: dict[Role, str], default_password: str | None = None) -> str:
    """An ACL file for Redis (`aclfile`): one user per role holding only the queue's commands on the queue's
    keys, and a default user nobody can log in as. Passwords are stored as SHA-256 hashes, so the file
    holds no secret.

    The default user cannot simply be `off`: Redis 7.0 replays its append-only file's MULTI/EXEC blocks
    (what every script writes) under the default user's rules, and drops each one they refuse, so a
    restart would lose the queue. It keeps every right, behind a password no component is given (random
    each time unless `default_password` pins it, so that an unchanged file stays unchanged)."""
    unknowable = hashlib.sha256((default_password or secrets.token_urlsafe(32)).encode()).hexdigest()
    lines = [f"user default on #{unknowable} ~* &* +@all"]
    for role in QUEUE_ROLES:
        digest = hashlib.sha256(passwords[role].encode()).hexdigest()
        lines.append(
            f"user {role} on #{digest} resetkeys resetchannels {_queue_keys(role, prefix)} {queue_rules(role)}"
        )
    return "\n".join(lines) + "\n"
