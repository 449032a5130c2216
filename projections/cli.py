"""`stockledger project`: rebuild, run and inspect the read models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final

import msgspec
import typer
from eventsourcing.persistence import ApplicationRecorder
from rich.console import Console
from rich.table import Table

from engine.stopping import stop_on_signals
from engine.store import DEFAULT_STORE_URL, StoreURLError, open_factory
from projections import PROJECTIONS, select
from projections.db import DEFAULT_DB_URL, Database, DatabaseURLError
from projections.runner import catch_up, follow, rebuild, status

FOLLOW_POLL_S: Final = 0.2

project_app = typer.Typer(help="The read models: rebuild, run and status.", no_args_is_help=True)
console = Console()

StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="STOCKLEDGER_STORE",
        help="Where events are kept: sqlite:///path/to/file.db or kafka://host:port",
    ),
]
DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="STOCKLEDGER_READ_DB",
        help="Where read models are kept: sqlite:///path.db or postgresql://user@host/db",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def opened(store: str, db_url: str) -> Iterator[tuple[ApplicationRecorder, Database]]:
    """The event store and the read-model database a command names, closed after;
    a bad URL is the option's error, not a traceback."""
    try:
        factory = open_factory(store)
    except StoreURLError as error:
        raise typer.BadParameter(str(error), param_hint="--store") from None
    try:
        db = Database(db_url)
    except DatabaseURLError as error:
        factory.close()
        raise typer.BadParameter(str(error), param_hint="--db") from None
    try:
        yield factory.application_recorder(), db
    finally:
        db.close()
        factory.close()


def _names(name: str) -> list[str]:
    if name == "all":
        return list(PROJECTIONS)
    if name not in PROJECTIONS:
        known = ", ".join(PROJECTIONS)
        raise typer.BadParameter(f"no projection {name!r}; known: {known}, all", param_hint="NAME")
    return [name]


@project_app.command("rebuild")
def rebuild_command(
    name: Annotated[str, typer.Argument(help=f"One of {', '.join(PROJECTIONS)}, or all.")],
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Build a read model from notification zero into fresh tables, then swap them in.

    Safe to cancel: the live tables are untouched until the swap; run it again.
    """
    projections = select(_names(name))
    with opened(store, db) as (recorder, database):
        began = time.perf_counter()
        applied = rebuild(database, recorder, projections)
        seconds = time.perf_counter() - began
        head = recorder.max_notification_id() or 0
    names = [p.name for p in projections]
    summary = {
        "projections": names,
        "notifications": head,
        "events_applied": applied,
        "seconds": round(seconds, 3),
        "notifications_per_s": round(head / seconds) if seconds else 0,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        console.print(
            f"rebuilt {', '.join(names)}: {head:,} notifications "
            f"in {seconds:.2f} s ({summary['notifications_per_s']:,}/s)"
        )


@project_app.command("run")
def run_command(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    follow_: Annotated[
        bool, typer.Option("--follow", help="Keep applying new events until interrupted.")
    ] = False,
) -> None:
    """Catch every read model up with the store (and, with --follow, keep it up)."""
    projections = select()
    with opened(store, db) as (recorder, database):
        applied = catch_up(database, recorder, projections)
        console.print(f"caught up: {applied:,} events applied")
        if follow_:
            with stop_on_signals() as stop:
                follow(database, recorder, projections, poll_s=FOLLOW_POLL_S, stop=stop)


@project_app.command("status")
def status_command(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Each read model's checkpoint and lag behind the store."""
    with opened(store, db) as (recorder, database):
        rows = status(database, recorder, select())
    if as_json:
        typer.echo(msgspec.json.encode(rows).decode())
        return
    table = Table("projection", "partition", "checkpoint", "store head", "lag")
    for row in rows:
        cells: list[Any] = [row.projection, row.partition, row.checkpoint, row.head, row.lag]
        table.add_row(*(f"{c:,}" if isinstance(c, int) else c for c in cells))
    console.print(table)
