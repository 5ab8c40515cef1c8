"""pyiceberg access to the configured catalog, with the namespace rule enforced before any write."""

from __future__ import annotations

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, OAuthError, UnauthorizedError

from lake.catalog_config import pyiceberg_properties
from lake.settings import LakeSettings


class NamespaceMissingError(LookupError):
    """A write was aimed at a namespace that does not exist; nothing was written."""


def open_catalog(settings: LakeSettings) -> Catalog:
    return load_catalog(settings.catalog.name, **pyiceberg_properties(settings))


def catalog_refused_credentials(exc: BaseException) -> bool:
    """Nessie said who-are-you (401: no token, a bad or expired one) rather than anything else."""
    return isinstance(exc, UnauthorizedError | OAuthError)


def ensure_namespaces(catalog: Catalog, namespaces: tuple[str, ...]) -> list[str]:
    """Create the namespaces that are missing; returns the ones this call created."""
    existing = {ns[0] for ns in catalog.list_namespaces()}
    created = []
    for namespace in namespaces:
        if namespace in existing:
            continue
        try:
            catalog.create_namespace(namespace)
            created.append(namespace)
        except NamespaceAlreadyExistsError:
            pass  # another bootstrap got there first
    return created


def require_namespace(catalog: Catalog, table_identifier: str) -> None:
    """Fail before any data file is written when the table's namespace is missing.

    Catalogs differ: some create the namespace silently, Nessie fails only at commit, after the data
    files were uploaded. Checking first makes every catalog behave the same.
    """
    namespace = table_identifier.rpartition(".")[0]
    if not namespace:
        raise ValueError(f"table identifier {table_identifier!r} needs a namespace: 'namespace.table'")
    if (namespace,) not in {tuple(ns) for ns in catalog.list_namespaces()}:
        raise NamespaceMissingError(
            f"namespace {namespace!r} does not exist in catalog {catalog.name!r}; "
            "create it with `lake bootstrap` (or add it to lake_contracts/tables.py)"
        )
