"""`stockledger kafka up | down | status`: a local Kafka broker for development and tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from engine.kafka.broker import (
    DEFAULT_DATA_DIR,
    DEFAULT_PORT,
    READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Broker,
)
from engine.kafka.errors import BrokerError
from engine.kafka.jars import KAFKA_VERSION

kafka_app = typer.Typer(
    help=(
        f"A local Apache Kafka {KAFKA_VERSION} broker (KRaft, one node, 127.0.0.1): "
        "for development and tests, not production (replication factor 1)."
    ),
    no_args_is_help=True,
    add_completion=False,
)

DataDirOption = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        file_okay=False,
        help="The broker's topics, config, log and pid file.",
    ),
]


@kafka_app.command()
def up(
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Clients connect to 127.0.0.1:PORT.")
    ] = DEFAULT_PORT,
    controller_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="The KRaft controller's port. Default: PORT + 1."),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    ready_timeout_s: Annotated[
        float, typer.Option("--ready-timeout", min=1, help="Seconds to wait for the broker.")
    ] = READY_TIMEOUT_S,
) -> None:
    """Start the broker in the background; the first run fetches Kafka with Maven."""
    running = Broker.at(data_dir)
    pid = running.pid
    if pid is not None:
        typer.echo(
            f"Kafka broker already running at {running.bootstrap} (pid {pid}); "
            "`stockledger kafka down` stops it."
        )
        return
    broker = Broker(
        data_dir,
        port=port,
        controller_port=controller_port,
        ready_timeout_s=ready_timeout_s,
        announce=lambda line: typer.echo(line, err=True),
    )
    _run(broker.start)
    typer.echo(
        f"Kafka broker running at {broker.bootstrap} (pid {broker.pid}); "
        f"data in {broker.data_dir}, log in {broker.log_path}"
    )


@kafka_app.command()
def down(
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    stop_timeout_s: Annotated[
        float,
        typer.Option("--stop-timeout", min=0, help="Seconds to wait after SIGTERM for SIGKILL."),
    ] = STOP_TIMEOUT_S,
) -> None:
    """Stop the broker: SIGTERM, then SIGKILL if it has not stopped in time. Keeps its data."""
    broker = Broker.at(data_dir, stop_timeout_s=stop_timeout_s)
    pid = broker.pid
    if pid is None:
        typer.echo(f"No Kafka broker running from {broker.data_dir}")
        return
    _run(broker.stop)
    typer.echo(f"Kafka broker at {broker.bootstrap} (pid {pid}) stopped")


@kafka_app.command()
def status(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Say whether the broker runs, where and as which pid; exit 1 when it does not run."""
    broker = Broker.at(data_dir)
    pid = broker.pid
    if pid is None:
        typer.echo(f"Kafka broker not running (data dir {broker.data_dir})")
        raise typer.Exit(1)
    typer.echo(f"Kafka broker running at {broker.bootstrap} (pid {pid}); data in {broker.data_dir}")


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except BrokerError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
