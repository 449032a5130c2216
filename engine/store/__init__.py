"""Where events are kept: a store URL picks an eventsourcing infrastructure factory.

`sqlite:///path/to/file.db` (or `sqlite:///relative.db`) is the embedded store.
Without a URL, eventsourcing's own `PERSISTENCE_MODULE` environment variable
decides, so any eventsourcing application can run on these recorders too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from eventsourcing.persistence import InfrastructureFactory

DEFAULT_STORE_URL: Final = "sqlite:///data/stockledger.db"


class StoreURLError(ValueError):
    """A store URL that names no store this engine has."""


def sqlite_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        msg = f"not an embedded store URL: {url!r} (expected sqlite:///path/to/file.db)"
        raise StoreURLError(msg)
    if parts.netloc:
        msg = f"{url!r} has a host; write sqlite:///relative.db or sqlite:////absolute.db"
        raise StoreURLError(msg)
    if not parts.path.lstrip("/"):
        msg = f"{url!r} names no file (expected sqlite:///path/to/file.db)"
        raise StoreURLError(msg)
    return Path(parts.path[1:])


def open_factory(url: str | None = None, **env: str) -> InfrastructureFactory[Any]:
    """The infrastructure factory for a store URL (or, without one, the environment)."""
    if url is None:
        return InfrastructureFactory.construct(env or None)
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return InfrastructureFactory.construct(
            {"PERSISTENCE_MODULE": "engine.store.sqlite", "SQLITE_DBNAME": str(path), **env}
        )
    msg = f"unknown store {url!r}: expected sqlite:///path/to/file.db"
    raise StoreURLError(msg)
