"""An embedded store served by a real `stockledger serve` (the consumers' sink), and helpers.

Commands reach the store through the server's intake, as a storefront's do;
the consumers read the store directly and send their decisions back to the
same intake. Read models go to a database of their own per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder

from consumers.consumer import Consumer, Runner
from consumers.sink import HttpSink
from engine.codec import UndecodableEventError, decode_for_replay
from engine.commands import AnyCommand
from engine.engine import Engine, EngineSettings
from engine.events import StreamEvent
from engine.kafka import Broker
from engine.store import open_factory
from projections.db import Database, connect
from tests.engine.http.server import TOKEN, running_server

Json = dict[str, Any]
NOTIFICATIONS_MAX = 100_000
_commands = msgspec.json.Decoder(list[AnyCommand])
SHIP_TO = {"name": "A", "street": "1 Road", "city": "Town", "postal_code": "1", "country": "DE"}


@dataclass
class Served:
    """The store, its server, and the test's read-model database."""

    store_url: str
    url: str
    recorder: ApplicationRecorder
    db: Database

    def post(self, commands: list[Json]) -> list[Json]:
        response = httpx.post(
            f"{self.url}/commands",
            json=commands,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30.0,
        )
        assert response.status_code == 200, response.text
        answers: list[Json] = response.json()
        return answers

    def runner(self, consumer: Consumer, lines: list[str] | None = None) -> Runner:
        out = lines.append if lines is not None else lambda _line: None
        return Runner(consumer, self.db, self.recorder, HttpSink(self.url, TOKEN), out=out)

    def events(self) -> list[StreamEvent]:
        """Every event of the store, one by one: a poison event among them is skipped."""
        events = []
        for notification in self.recorder.select_notifications(None, NOTIFICATIONS_MAX):
            with suppress(UndecodableEventError):
                events += decode_for_replay([notification.state])
        return events


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    factory = open_factory(store_url)
    with (
        running_server(store_url, tmp_path / "serve.log") as server,
        connect(f"sqlite:///{tmp_path / 'readmodels.db'}") as db,
    ):
        yield Served(store_url, server.url, factory.application_recorder(), db)
    factory.close()


def slot(sku: str, units: int, *, location: str = "w1", safety_stock: int = 0) -> list[Json]:
    return [
        {
            "type": "ConfigureSlot",
            "command_id": f"cfg-{sku}-{location}",
            "sku": sku,
            "location": location,
            "safety_stock": safety_stock,
        },
        {
            "type": "ReceiveStock",
            "command_id": f"rcv-{sku}-{location}",
            "sku": sku,
            "location": location,
            "quantity": units,
            "reference": "po-1",
        },
    ]


def credit(customer: str, limit_cents: int) -> Json:
    return {
        "type": "SetCreditLimit",
        "command_id": f"lim-{customer}",
        "customer_id": customer,
        "limit_cents": limit_cents,
        "payment_terms": "net-30",
    }


def place(order_id: str, customer: str, sku: str, quantity: int, unit_cents: int = 100) -> Json:
    return {
        "type": "PlaceOrder",
        "command_id": f"place-{order_id}",
        "order_id": order_id,
        "customer_id": customer,
        "channel": "web",
        "payment_terms": "net-30",
        "ship_to": SHIP_TO,
        "lines": [{"sku": sku, "quantity": quantity, "unit_price_cents": unit_cents}],
    }


def kinds(answer: Json) -> list[str]:
    return [event["data"]["type"] for event in answer["events"]]


STORE_PARTITIONS = 2


@dataclass
class KafkaStore:
    """A two-partition Kafka store, each partition written by its own engine.

    `url` names no partition, as a group member's does; `at(p)` is the writer's.
    """

    url: str
    prefix: str

    def at(self, partition: int) -> str:
        return f"{self.url}&partition={partition}"

    def submit(self, partition: int, commands: list[Json]) -> None:
        """The commands, two a commit, by the engine of `partition`."""
        factory = open_factory(self.at(partition))
        try:
            engine = Engine.open(factory.application_recorder(), EngineSettings(freeze_gc=False))
            for start in range(0, len(commands), 2):
                engine.submit(_commands.decode(msgspec.json.encode(commands[start : start + 2])))
        finally:
            factory.close()

    def notifications(self, partition: int) -> int:
        factory = open_factory(self.at(partition))
        try:
            return factory.application_recorder().max_notification_id() or 0
        finally:
            factory.close()


@pytest.fixture
def kafka_store(kafka_broker: Broker, kafka_prefix: str) -> KafkaStore:
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}&partitions={STORE_PARTITIONS}"
    return KafkaStore(url, kafka_prefix)
