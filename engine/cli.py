"""The `stockledger` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import msgspec
import typer
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from consumers.cli import consume_app, dlq_app
from engine.codec import json_schema
from engine.demo import DemoSummary, run_demo
from engine.engine import Engine
from engine.flash_sale import FlashSaleSettings, FlashSaleSummary, run_flash_sale
from engine.history import (
    HistoryError,
    history,
    render_history,
    render_state,
    state_at,
    to_jsonable,
)
from engine.http.app import serve as serve_http
from engine.intake import Refused, answer_lines
from engine.kafka.cli import kafka_app
from engine.kafka.service import BATCH_COMMANDS_MAX, Service, ServiceError, kafka_settings
from engine.kafka.tail import TAIL_TOPICS, tail
from engine.simulator import SimulatorSettings
from engine.store import DEFAULT_STORE_URL, StoreURLError, open_factory, sqlite_path
from engine.verify import render_report, verify_store
from projections.cli import DbOption, StoreOption, project_app
from projections.db import DEFAULT_DB_URL
from projections.query_cli import query_app

app = typer.Typer(
    help="stockledger: an event-sourced order and inventory engine.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(project_app, name="project")
app.add_typer(query_app, name="query")
app.add_typer(consume_app, name="consume")
app.add_typer(dlq_app, name="dlq")
console = Console()


DEMO_STORE_URL: Final = "sqlite:///data/demo.db"

Update = Callable[[int, int], None]


@contextmanager
def _progress_bar(*, disable: bool) -> Iterator[Callable[[str], Update]]:
    """Progress on stderr; `stage(name)` gives the callback `(done, total)` of one bar."""
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.completed:>12,} / {task.total:,}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=disable,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def stage(name: str) -> Update:
            def update(done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done, total=total)

            return update

        yield stage


@app.command()
def demo(
    store: Annotated[
        str,
        typer.Option(
            "--store",
            help=(
                "An empty store for the demo. Default: data/demo.db, made afresh each run; "
                "on kafka://host:port, fresh topics each run."
            ),
        ),
    ] = DEMO_STORE_URL,
    orders: Annotated[int, typer.Option(min=1, help="Orders the storefront places.")] = 50_000,
    customers: Annotated[int, typer.Option(min=1)] = 2_000,
    skus: Annotated[int, typer.Option(min=2)] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the storefront.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """A seeded storefront drives the engine; then verify checks the whole store."""
    if store == DEMO_STORE_URL:
        for leftover in sqlite_path(store).parent.glob(sqlite_path(store).name + "*"):
            leftover.unlink()
    store = _fresh_kafka_topics(store)
    settings = SimulatorSettings(orders=orders, customers=customers, skus=skus, seed=seed)
    with _recorder(store) as recorder:
        if recorder.max_notification_id() is not None:
            msg = f"{store} already holds events; the demo needs an empty store"
            raise typer.BadParameter(msg, param_hint="--store")
        with _progress_bar(disable=as_json) as progress:
            summary = run_demo(recorder, settings, progress("orders"))
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        _print_demo(summary)
    if not summary.report.ok:
        raise typer.Exit(1)


def _fresh_kafka_topics(store: str) -> str:
    """A Kafka store URL without a topic prefix gets a fresh one: topics are never deleted,
    so each demo run writes its own (the URL is printed, for verify, history and tail)."""
    parts = urlsplit(store)
    if parts.scheme != "kafka" or "prefix" in parse_qs(parts.query):
        return store
    prefix = f"demo-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid4().hex[:4]}-"
    query = "&".join(q for q in (parts.query, urlencode({"prefix": prefix})) if q)
    fresh = urlunsplit(parts._replace(query=query))
    typer.echo(f"demo store: {fresh}", err=True)
    return fresh


def _print_demo(summary: DemoSummary) -> None:
    head = Table(title="stockledger demo", show_header=False)
    head.add_column()
    head.add_column(justify="right")
    head.add_row("orders", f"{summary.orders:,}")
    head.add_row("orders/s (end to end, durable)", f"{summary.orders_per_s:,.0f}")
    head.add_row("events", f"{summary.stats.events:,}")
    console.print(head)
    outcomes = Table(title="outcomes", show_header=False)
    outcomes.add_column()
    outcomes.add_column(justify="right")
    for name, count in sorted(summary.stats.outcomes.items()):
        outcomes.add_row(name, f"{count:,}")
    for name, count in sorted(summary.stats.rejections.items()):
        outcomes.add_row(f"command refused {name}", f"{count:,}")
    console.print(outcomes)
    render_report(summary.report, console)


@app.command("flash-sale")
def flash_sale(
    store: StoreOption = DEFAULT_STORE_URL,
    units: Annotated[int, typer.Option(min=1, help="Units of the hot SKU in stock.")] = 120_000,
    buyers: Annotated[int, typer.Option(min=1, help="Buyers, one unit each.")] = 200_000,
    pay_percent: Annotated[
        int, typer.Option(min=0, max=100, help="Winners who pay; the rest expire.")
    ] = 90,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run a flash sale on one hot SKU through the stock core into the store."""
    settings = FlashSaleSettings(units=units, buyers=buyers, pay_percent=pay_percent, seed=seed)
    try:
        factory = open_factory(store)
    except StoreURLError as error:
        raise typer.BadParameter(str(error), param_hint="--store") from None
    try:
        with _progress_bar(disable=as_json) as stages:
            summary = run_flash_sale(
                factory.application_recorder(),
                settings,
                lambda stage, done, total: stages(stage)(done, total),
            )
    finally:
        factory.close()
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        _print_summary(summary, store)
    if summary.oversold or not summary.replay_matches or not summary.invariants_hold:
        raise typer.Exit(1)


def _print_summary(s: FlashSaleSummary, store: str) -> None:
    table = Table(title=f"Flash sale on {s.sku}", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    rows = [
        ("units in stock", f"{s.units:,}"),
        ("buyers", f"{s.buyers:,}"),
        ("reserved", f"{s.reserved:,}"),
        ("rejected (sold out)", f"{s.rejected:,}"),
        ("shipped", f"{s.shipped:,}"),
        ("expired (unpaid)", f"{s.expired:,}"),
        ("oversold", f"{s.oversold:,}"),
        ("reservations/s (stock core)", f"{s.reservations_per_s:,.0f}"),
        ("events stored", f"{s.events:,}"),
        ("events/s stored (durable)", f"{s.events_stored_per_s:,.0f}"),
        ("events replayed", f"{s.events_replayed:,}"),
        ("events/s replayed into a new core", f"{s.events_replayed_per_s:,.0f}"),
        ("replayed state equals live state", "yes" if s.replay_matches else "NO"),
        ("invariants hold", "yes" if s.invariants_hold else "NO"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"store: {store}")


@app.command()
def submit(
    source: Annotated[
        typer.FileBinaryRead, typer.Argument(help="JSON lines of commands; - for stdin.")
    ],
    store: StoreOption = DEFAULT_STORE_URL,
) -> None:
    """Apply commands from JSON lines; print one JSON answer per line (events or error)."""
    factory = _factory(store)
    try:
        engine = Engine.open(
            factory.application_recorder(), snapshots=factory.aggregate_recorder("snapshots")
        )
        refused = 0
        for reply in answer_lines(engine, source):
            refused += isinstance(reply, Refused)
            sys.stdout.buffer.write(msgspec.json.encode(reply) + b"\n")
        sys.stdout.flush()
    finally:
        factory.close()
    if refused:
        typer.echo(f"{refused} line(s) refused; the others were applied", err=True)
        raise typer.Exit(1)


def _factory(store: str) -> InfrastructureFactory[Any]:
    try:
        return open_factory(store)
    except StoreURLError as error:
        raise typer.BadParameter(str(error), param_hint="--store") from None


@contextmanager
def _recorder(store: str) -> Iterator[ApplicationRecorder]:
    """The store's application recorder, closed after: a Kafka store's clients
    would otherwise outlive the command (and, in tests, the broker)."""
    factory = _factory(store)
    try:
        yield factory.application_recorder()
    finally:
        factory.close()


@app.command()
def verify(
    store: StoreOption = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay the whole store and check every invariant; exit 1 at the first violation."""
    with _recorder(store) as recorder:
        report = verify_store(recorder)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        render_report(report, console)
    if report.violation is not None:
        raise typer.Exit(1)


@app.command("history")
def history_command(
    stream: Annotated[str, typer.Argument(help="order-…, customer-…, sku-…@location or clock")],
    store: StoreOption = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one per event.")] = False,
) -> None:
    """Every event of a stream, with the stream's state after each one."""
    try:
        with _recorder(store) as recorder:
            rows = history(recorder, stream)
    except HistoryError as error:
        raise typer.BadParameter(str(error), param_hint="STREAM") from None
    if as_json:
        for envelope, state in rows:
            typer.echo(json.dumps(to_jsonable(envelope, state)))
    else:
        render_history(stream, rows, console)


@app.command()
def state(
    stream: Annotated[str, typer.Argument(help="order-…, customer-…, sku-…@location or clock")],
    at: Annotated[int | None, typer.Option("--at", help="As of this version.")] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            help="As of this time (ISO 8601; UTC when no zone is given).",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    store: StoreOption = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """A stream's state at a version (--at) or as of a time (--as-of); else its latest."""
    when = as_of if as_of is None or as_of.tzinfo else as_of.replace(tzinfo=UTC)
    try:
        with _recorder(store) as recorder:
            folded, envelope = state_at(recorder, stream, version=at, as_of=when)
    except (HistoryError, ValueError) as error:
        raise typer.BadParameter(str(error), param_hint="STREAM / --at / --as-of") from None
    if as_json:
        typer.echo(json.dumps(to_jsonable(envelope, folded)))
    else:
        render_state(stream, folded, envelope, console)


@app.command()
def schema() -> None:
    """Print the JSON Schema of every event (the envelope and each payload)."""
    typer.echo(json.dumps(json_schema(), indent=2))


KafkaStoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="STOCKLEDGER_STORE",
        help="The Kafka store: kafka://host:port[?prefix=...&partition=N]",
    ),
]
KAFKA_STORE_URL: Final = "kafka://127.0.0.1:9092"


@app.command()
def run(
    store: KafkaStoreOption = KAFKA_STORE_URL,
    batch: Annotated[
        int, typer.Option(min=1, max=10 * BATCH_COMMANDS_MAX, help="Commands per commit, at most.")
    ] = BATCH_COMMANDS_MAX,
    drain: Annotated[
        bool,
        typer.Option(
            "--drain", help="Stop once every command published before the start is taken."
        ),
    ] = False,
) -> None:
    """The engine as a service: commands from the Kafka `commands` topic, events exactly once.

    Prints one JSON line per batch. SIGTERM or Ctrl-C finishes the batch in hand, then stops.
    """
    try:
        service = Service(store, batch_commands_max=batch)
        service.run(drain=drain, on_batch=lambda done: typer.echo(done.as_json()))
    except (StoreURLError, ValueError) as error:
        raise typer.BadParameter(str(error), param_hint="--store") from None
    except ServiceError as error:
        typer.echo(f"stockledger run: {error}", err=True)
        raise typer.Exit(1) from None


@app.command("tail")
def tail_command(
    topic: Annotated[str, typer.Argument(help=f"One of {', '.join(TAIL_TOPICS)}.")],
    store: KafkaStoreOption = KAFKA_STORE_URL,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the first record, not the end.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Wait for new records, or stop at the end.")
    ] = True,
) -> None:
    """Print a Kafka topic's events (or commands, or dead letters) as JSON lines, live."""
    try:
        settings = kafka_settings(store)
        out = sys.stdout.buffer
        for line in tail(settings, topic, from_beginning=from_beginning, follow=follow):
            out.write(line + b"\n")
            out.flush()
    except (StoreURLError, ValueError) as error:
        raise typer.BadParameter(str(error), param_hint="TOPIC / --store") from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def serve(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    token: Annotated[
        list[str] | None,
        typer.Option(
            "--token",
            help="A bearer token storefronts may send (repeatable). "
            "Default: STOCKLEDGER_API_TOKENS, comma separated.",
        ),
    ] = None,
) -> None:
    """The HTTP API: POST /commands (bearer token), GET the read models and /health,
    GET /openapi.json."""
    try:
        serve_http(store, db, tuple(token or ()), host, port)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--store / --db / --token") from None
