"""The embedded stack: project-private PostgreSQL, Redis, SeaweedFS and Nessie (and a Spark cluster on
demand), started and stopped by PID."""

from lake_tools.stack.process import ProcessState, StackError
from lake_tools.stack.stack import Stack

__all__ = ["ProcessState", "Stack", "StackError"]
