"""`stockledger consume NAME` and `stockledger dlq list|replay`.

On the embedded store, and on a Kafka store whose URL names `partition=N`,
a consume command reads that one partition (`consumers.partition`). On a
Kafka store whose URL names no partition it joins the consumer group
`<prefix>stockledger-consume-<NAME>` (`--group` names another) and works on
the partitions the group assigns it; start it twice and the two share them,
stop one and the other takes its partitions over (`consumers.group`).
Following (no --once), either rides out a broker restart: it waits, reopens
the store and goes on from its checkpoints (`consumers.recovery`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final

import msgspec
import typer
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, InterfaceError
from rich.console import Console
from rich.table import Table

from consumers import dlq
from consumers.alerts import LowStock
from consumers.consumer import Consumer, Runner
from consumers.credit_review import (
    APPROVE_MAX_CENTS,
    REJECT_ABOVE_CENTS,
    CreditReview,
    ReviewPolicy,
)
from consumers.group import (
    GroupError,
    GroupRunner,
    GroupSettings,
    Worker,
    default_group,
    is_grouped,
)
from consumers.logistics import Shipping
from consumers.partition import PartitionRunner
from consumers.projection_runner import POLL_S, ProjectionsWorker, run_projections
from consumers.recovery import RecoveryError
from consumers.sink import CommandSink, SinkError, open_sink
from engine.stopping import stop_on_signals
from engine.store import DEFAULT_STORE_URL, StoreURLError, kafka_environment, open_factory
from projections.cli import DbOption, JsonOption, StoreOption, opened
from projections.db import DEFAULT_DB_URL, Database, DatabaseURLError
from projections.planning import LEAD_TIME_DAYS, PlanningSettings
from projections.runner import partition_of

__all__ = ["consume_app", "dlq_app"]

CONSUMERS: Final[dict[str, Callable[[], Consumer]]] = {
    CreditReview.name: CreditReview,
    Shipping.name: Shipping,
    LowStock.name: LowStock,
}

consume_app = typer.Typer(
    help="Long-running processes over the store: read models, credit review, logistics, alerts.",
    no_args_is_help=True,
)
dlq_app = typer.Typer(help="Events the consumers could not handle.", no_args_is_help=True)
console = Console()

OnceOption = Annotated[bool, typer.Option("--once", help="Catch up, then exit.")]
IntakeOption = Annotated[
    str | None,
    typer.Option(
        "--intake",
        envvar="STOCKLEDGER_INTAKE",
        help="On the embedded store: http://host:port of a running `stockledger serve`, "
        "where decisions go as commands. On Kafka they go to the commands topic.",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="STOCKLEDGER_API_TOKEN", help="The intake's bearer token."),
]
GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group",
        help="On a Kafka store whose URL names no partition: the consumer group to join "
        "(default <prefix>stockledger-consume-<NAME>). Its processes share the store's "
        "partitions and take over those of a process that stops.",
    ),
]


def _group(store: str, name: str, group: str | None) -> GroupSettings | None:
    """The group a consume command joins; None where the store has no groups."""
    try:
        grouped = is_grouped(store)
    except StoreURLError as error:
        raise typer.BadParameter(str(error), param_hint="--store") from None
    if not grouped:
        if group is not None:
            msg = (
                f"{store} is read by one process, without a group: the embedded store has one "
                "partition, and a Kafka URL naming partition=N reads that one; drop --group, "
                "or drop partition= from the URL to share the partitions in a group"
            )
            raise typer.BadParameter(msg, param_hint="--group")
        return None
    prefix = kafka_environment(store).get("KAFKA_TOPIC_PREFIX", "")
    try:
        return GroupSettings(group if group is not None else default_group(prefix, name))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--group") from None


@contextmanager
def _database(url: str) -> Iterator[Database]:
    try:
        database = Database(url)
    except DatabaseURLError as error:
        raise typer.BadParameter(str(error), param_hint="--db") from None
    try:
        yield database
    finally:
        database.close()


# What stops a consume process with its message rather than a traceback: a
# configuration the store refuses, a failure past its retries, a sink refusal.
_STOPPING = (RecoveryError, GroupError, SinkError, InterfaceError)


def _alone(name: str, store: str, start: Callable[[ApplicationRecorder], Worker]) -> None:
    """Follow one partition of the store until SIGTERM or SIGINT, riding out broker restarts."""
    runner = PartitionRunner(store, start, out=lambda line: typer.echo(line, err=True))
    try:
        with stop_on_signals() as stop:
            runner.run(stop=stop, poll_s=POLL_S)
    except StoreURLError as error:
        raise typer.BadParameter(str(error), param_hint="--store") from None
    except _STOPPING as error:
        typer.echo(f"stockledger consume {name}: {error}", err=True)
        raise typer.Exit(1) from None


def _in_group(
    name: str,
    store: str,
    settings: GroupSettings,
    start: Callable[[ApplicationRecorder], Worker],
    once: bool,
) -> None:
    runner = GroupRunner(store, settings, start, out=lambda line: typer.echo(line, err=True))
    try:
        if once:
            runner.run(stop=None, poll_s=POLL_S)
            typer.echo(f"{name}: caught up its partitions in group {settings.group}", err=True)
            return
        with stop_on_signals() as stop:
            runner.run(stop=stop, poll_s=POLL_S)
    except _STOPPING as error:
        typer.echo(f"stockledger consume {name}: {error}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def _sink(
    store: str, intake: str | None, token: str | None, *, sends: bool = True
) -> Iterator[CommandSink | None]:
    """The sink of a consumer that `sends` commands; None for one that decides none."""
    if not sends:
        yield None
        return
    try:
        sink = open_sink(store, intake, token)
    except (ValueError, SinkError) as error:
        raise typer.BadParameter(str(error), param_hint="--intake / --token") from None
    try:
        yield sink
    finally:
        sink.close()


def _run(
    consumer: Consumer,
    store: str,
    db: str,
    intake: str | None,
    token: str | None,
    once: bool,
    group: str | None,
    *,
    sends: bool = True,
) -> None:
    settings = _group(store, consumer.name, group)
    if settings is not None or not once:
        with _database(db) as database, _sink(store, intake, token, sends=sends) as sink:

            def start(recorder: ApplicationRecorder) -> Runner:
                return Runner(consumer, database, recorder, sink, out=typer.echo)

            if settings is not None:
                _in_group(consumer.name, store, settings, start, once)
            else:
                _alone(consumer.name, store, start)
        return
    with (
        opened(store, db) as (recorder, database),
        _sink(store, intake, token, sends=sends) as sink,
    ):
        runner = Runner(consumer, database, recorder, sink, out=typer.echo)
        try:
            read = runner.catch_up()
        except SinkError as error:
            typer.echo(f"stockledger consume {consumer.name}: {error}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{consumer.name}: caught up, {read:,} notifications read", err=True)


@consume_app.command("projections")
def projections_command(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    once: OnceOption = False,
    group: GroupOption = None,
) -> None:
    """Every read model, caught up (and with no --once, kept up) with the store."""
    settings = _group(store, "projections", group)
    if settings is not None:
        with _database(db) as database:
            _in_group(
                "projections",
                store,
                settings,
                lambda recorder: ProjectionsWorker(database, recorder),
                once,
            )
        return
    if not once:
        with _database(db) as database:
            _alone("projections", store, lambda recorder: ProjectionsWorker(database, recorder))
        return
    with opened(store, db) as (recorder, database):
        applied = run_projections(database, recorder)
        typer.echo(f"projections: caught up, {applied:,} events applied", err=True)


@consume_app.command("credit-review")
def credit_review_command(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    intake: IntakeOption = None,
    token: TokenOption = None,
    once: OnceOption = False,
    group: GroupOption = None,
    approve_max_cents: Annotated[
        int, typer.Option(min=0, help="Approve held orders (tolerance band) up to this value.")
    ] = APPROVE_MAX_CENTS,
    reject_above_cents: Annotated[
        int, typer.Option(min=0, help="Reject held orders over this value.")
    ] = REJECT_ABOVE_CENTS,
) -> None:
    """Policy AUTO-REVIEW-1 on orders held for credit review; the rest stay queued."""
    try:
        policy = ReviewPolicy(approve_max_cents, reject_above_cents)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--approve-max-cents") from None
    _run(CreditReview(policy), store, db, intake, token, once, group)


@consume_app.command("logistics")
def logistics_command(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    intake: IntakeOption = None,
    token: TokenOption = None,
    once: OnceOption = False,
    group: GroupOption = None,
) -> None:
    """Pick lists per location for confirmed orders; what is picked ships (ShipLines)."""
    _run(Shipping(), store, db, intake, token, once, group)


@consume_app.command("alerts")
def alerts_command(
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    once: OnceOption = False,
    group: GroupOption = None,
    lead_time_days: Annotated[
        int, typer.Option(min=0, help="The supplier's lead time, logical days.")
    ] = LEAD_TIME_DAYS,
) -> None:
    """Low-stock alerts per SKU x location with reorder suggestions, into stock_alerts."""
    _run(
        LowStock(PlanningSettings(lead_time_days)), store, db, None, None, once, group, sends=False
    )


class _Partitions:
    """The store at each partition a replay needs, opened once: a letter is replayed over
    the partition its event is in, whose read models its consumer catches up first.

    A Kafka URL naming no partition opens any; otherwise only the URL's own is there.
    """

    def __init__(self, store: str, recorder: ApplicationRecorder) -> None:
        self.store = store
        self.grouped = is_grouped(store)
        self._recorders = {partition_of(recorder): recorder}
        self._factories: list[InfrastructureFactory[Any]] = []

    def __enter__(self) -> _Partitions:
        return self

    def __exit__(self, *_: object) -> None:
        for factory in self._factories:
            factory.close()

    def recorder(self, partition: int) -> ApplicationRecorder | None:
        found = self._recorders.get(partition)
        if found is None and self.grouped:
            factory = open_factory(self.store, KAFKA_PARTITION=str(partition))
            self._factories.append(factory)
            found = self._recorders[partition] = factory.application_recorder()
        return found


@dlq_app.command("list")
def list_command(
    db: DbOption = DEFAULT_DB_URL,
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Dead letters, oldest first: consumer, notification id, error."""
    with Database(db) as database:
        dlq.ensure_table(database)
        letters = dlq.listing(database, consumer=consumer)
    if as_json:
        for letter in letters:
            typer.echo(msgspec.json.encode(letter).decode())
        return
    table = Table("id", "consumer", "partition", "notification", "failed at", "error")
    for letter in letters:
        table.add_row(
            str(letter.id),
            letter.consumer,
            str(letter.partition),
            str(letter.notification_id),
            letter.failed_at,
            letter.error,
        )
    console.print(table)


@dlq_app.command("replay")
def replay_command(
    letter_id: Annotated[
        int | None, typer.Argument(help="The dead letter's id (dlq list).")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every dead letter.")] = False,
    consumer: Annotated[str | None, typer.Option(help="With --all: only this consumer's.")] = None,
    store: StoreOption = DEFAULT_STORE_URL,
    db: DbOption = DEFAULT_DB_URL,
    intake: IntakeOption = None,
    token: TokenOption = None,
) -> None:
    """Run the handler again: a letter handled is removed, one that fails keeps the new error.

    Exits 1 if any failed again.
    """
    if (letter_id is None) == (not replay_all):
        raise typer.BadParameter("give a dead letter's ID or --all, not both", param_hint="ID")
    with (
        opened(store, db) as (recorder, database),
        _sink(store, intake, token) as sink,
        _Partitions(store, recorder) as partitions,
    ):
        dlq.ensure_table(database)
        letters = dlq.listing(database, consumer=consumer, letter_id=letter_id)
        if letter_id is not None and not letters:
            raise typer.BadParameter(f"no dead letter {letter_id}; see `stockledger dlq list`")
        failed = 0
        # One runner per consumer and partition, however many of its letters there are:
        # `replay` begins a batch for each letter.
        runners: dict[tuple[str, int], Runner] = {}
        for letter in letters:
            make = CONSUMERS.get(letter.consumer)
            if make is None:
                typer.echo(f"{letter.id}: no consumer {letter.consumer!r} here", err=True)
                failed += 1
                continue
            at = partitions.recorder(letter.partition)
            if at is None:
                typer.echo(
                    f"{letter.id}: the event is in partition {letter.partition}, and {store} "
                    f"reads partition {partition_of(recorder)} only: replay it with a store URL "
                    f"naming partition={letter.partition}, or none",
                    err=True,
                )
                failed += 1
                continue
            key = (letter.consumer, letter.partition)
            runner = runners.get(key)
            if runner is None:
                runner = runners[key] = Runner(make(), database, at, sink, out=typer.echo)
            try:
                error = runner.replay(letter)
            except SinkError as sink_error:
                typer.echo(f"stockledger dlq replay: {sink_error}", err=True)
                raise typer.Exit(1) from None
            typer.echo(
                f"{letter.id}: "
                + ("handled, removed" if error is None else f"failed again: {error}")
            )
            failed += error is not None
    if failed:
        raise typer.Exit(1)
