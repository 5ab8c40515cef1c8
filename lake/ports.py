"""The embedded deployment's port plan: every process `lake stack up` and `lake up` start listens on loopback
at `LAKE_STACK__PORT_BASE` + its offset here. The settings' defaults, the stack and the platform all read it.

Each offset echoes the service's usual port (Nessie 19120, PostgreSQL 5432, S3 8333, Redis 6379, ...). The base
sits below Linux's ephemeral range (32768-60999), where an outgoing connection could take a service's port
before the service binds it; the highest port, SeaweedFS's admin gRPC (+10046), is then 29146.
"""

from __future__ import annotations

DEFAULT_PORT_BASE = 19100

# The stack's services.
NESSIE = 20  # 19120
NESSIE_MANAGEMENT = 21  # Nessie's management port (9000 in its image): health and metrics
POSTGRES = 32  # 5432
S3 = 33  # 8333
REDIS = 79  # 6379
SPARK_MASTER = 77  # 7077
SPARK_MASTER_UI = 70  # 8080
SPARK_WORKER = 71
SPARK_WORKER_UI = 72  # 8081
# SeaweedFS's internal servers behind its S3 port; each gRPC port must be free too.
SEAWEEDFS = {
    "master.port": 93,
    "master.port.grpc": 94,
    "volume.port": 80,
    "volume.port.grpc": 82,
    "filer.port": 88,
    "filer.port.grpc": 89,
    "s3.port.grpc": 34,
    # weed's worker dials the admin gRPC at admin port + 10000 whatever -admin.port.grpc says.
    "admin.port": 46,
}
SEAWEEDFS_ADMIN_GRPC_OFFSET = 10000

# The platform's (`lake up`) web servers and the offline market simulator.
DAGSTER_WEBSERVER = 30
AIRFLOW_API = 40
SIMULATOR = 90
