"""Where events are kept: a store URL picks an eventsourcing infrastructure factory.

`sqlite:///path/to/file.db` (or `sqlite:///relative.db`) is the embedded store;
`kafka://host:port[,host:port]?prefix=t1-&partition=0` is the Kafka store
(query options: prefix, partition, partitions, replication_factor, timeout_s;
see `engine.store.kafka`).
Without a URL, eventsourcing's own `PERSISTENCE_MODULE` environment variable
decides, so any eventsourcing application can run on these recorders too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from eventsourcing.persistence import InfrastructureFactory, InterfaceError

from engine.store.packing import Commit

DEFAULT_STORE_URL: Final = "sqlite:///data/stockledger.db"


@runtime_checkable
class CommitReader(Protocol):
    """A store that hands over whole commits (both of ours do): the fast path of
    every full read (recovery, verify, replay), with no object built per event."""

    def read_commits(self, after: int = 0) -> Iterator[tuple[int, Commit]]: ...


@runtime_checkable
class WriterStart(Protocol):
    """A store whose writer is slow to start (Kafka's transactional producer:
    `init_transactions`, which also fences the partition's earlier writer).
    An engine starts it as it opens, so that its first commit does not pay
    for it (measured: half a second on the local broker) and a writer that
    cannot start fails at open."""

    def start_writer(self) -> None: ...


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


KAFKA_URL_OPTIONS: Final = {
    "prefix": "KAFKA_TOPIC_PREFIX",
    "partition": "KAFKA_PARTITION",
    "partitions": "KAFKA_PARTITIONS",
    "replication_factor": "KAFKA_REPLICATION_FACTOR",
    "timeout_s": "KAFKA_TIMEOUT_S",
}


def kafka_environment(url: str) -> dict[str, str]:
    """The settings a `kafka://host:port?option=value` URL gives `engine.store.kafka`."""
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        msg = f"not a Kafka store URL: {url!r} (expected kafka://host:port?prefix=...)"
        raise StoreURLError(msg)
    if not parts.netloc or parts.path.strip("/"):
        msg = f"{url!r} names no broker, or has a path; write kafka://host:port[,host:port]"
        raise StoreURLError(msg)
    env = {"PERSISTENCE_MODULE": "engine.store.kafka", "KAFKA_BOOTSTRAP_SERVERS": parts.netloc}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        name = KAFKA_URL_OPTIONS.get(key)
        if name is None:
            known = ", ".join(KAFKA_URL_OPTIONS)
            msg = f"{url!r}: unknown option {key!r} (known: {known})"
            raise StoreURLError(msg)
        env[name] = value
    return env


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
    if scheme == "kafka":
        try:
            return InfrastructureFactory.construct({**kafka_environment(url), **env})
        except InterfaceError as error:
            # Settings the URL gave (a number, a prefix Kafka refuses): said as the URL's fault.
            raise StoreURLError(f"{url!r}: {error}") from error
    msg = f"unknown store {url!r}: expected sqlite:///path/to/file.db or kafka://host:port"
    raise StoreURLError(msg)
