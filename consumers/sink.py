"""Where a consumer's decisions go: back to the engine as commands, never as events.

The engine is the single writer of its store, so a consumer sends commands
through a sink: on the Kafka store, JSON records on the `<prefix>commands`
topic that `stockledger run` takes; on the embedded store, the HTTP intake of
a running `stockledger serve` (POST /commands with a bearer token). Every
command a consumer makes has a deterministic id (`command_id`), so a consumer
that restarts and decides again is answered as a retry: idempotent end to end.

A sink that cannot take a batch raises `SinkError`; the consumer then moves
no checkpoint and sends the same commands again later. A `SinkError` caused by
a retriable Kafka error is transient (`consumers.recovery`): the consumer
waits and tries the batch again; any other stops it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol
from urllib.parse import urlsplit

import httpx
import msgspec
from kafka import KafkaProducer
from kafka.errors import KafkaError

from engine.commands import AnyCommand, command_uuid, json_decoder, json_encoder
from engine.http.settings import COMMANDS_PER_REQUEST_MAX
from engine.kafka.service import COMMANDS_TOPIC, create_topics, kafka_settings
from engine.store.kafka import KafkaSettings, plain_producer

__all__ = [
    "COMMAND_ID_MAX",
    "CommandSink",
    "HttpSink",
    "KafkaSink",
    "SinkError",
    "command_id",
    "open_sink",
    "validated",
]

COMMAND_ID_MAX: Final = 64
HTTP_TIMEOUT_S: Final = 30.0


class SinkError(RuntimeError):
    """The sink did not take the commands; send them again later."""


class CommandSink(Protocol):
    def send(self, commands: Sequence[AnyCommand]) -> None: ...

    def close(self) -> None: ...


def command_id(kind: str, *parts: str) -> str:
    """`kind-part-part`, or `kind-<uuid of it>` where that is over the intake's 64 characters."""
    whole = "-".join((kind, *parts))
    return whole if len(whole) <= COMMAND_ID_MAX else f"{kind}-{command_uuid(whole).hex}"


def validated(command: AnyCommand) -> AnyCommand:
    """The command as the intake will decode it: a bad field raises here, naming it.

    msgspec checks constraints when it decodes, not when a Struct is built.
    """
    decoded: AnyCommand = json_decoder.decode(json_encoder.encode(command))
    return decoded


class HttpSink:
    """POST /commands of a running `stockledger serve`, at most its batch limit a request."""

    def __init__(self, url: str, token: str, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            msg = f"intake {url!r}: expected http://host:port of a running `stockledger serve`"
            raise ValueError(msg)
        if not token:
            msg = "no token for the intake: pass --token or set STOCKLEDGER_API_TOKEN"
            raise ValueError(msg)
        self.url = url.rstrip("/") + "/commands"
        self._client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)

    def send(self, commands: Sequence[AnyCommand]) -> None:
        for start in range(0, len(commands), COMMANDS_PER_REQUEST_MAX):
            body = msgspec.json.encode(list(commands[start : start + COMMANDS_PER_REQUEST_MAX]))
            try:
                response = self._client.post(
                    self.url, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError as error:
                msg = f"the intake {self.url} did not answer: {error}"
                raise SinkError(msg) from error
            if response.status_code != 200:
                msg = f"the intake {self.url} answered {response.status_code}: {response.text}"
                raise SinkError(msg)

    def close(self) -> None:
        self._client.close()


class KafkaSink:
    """JSON records on `<prefix>commands`, keyed by command id, acknowledged by all replicas.

    The producer is opened at the first send, not when the sink is made: a
    consumer started while the broker is away waits for it like the rest. A
    send that fails raises `SinkError` and keeps the producer, which
    reconnects on its own; what it still holds of the failed send goes out
    with the next one, and a command that lands twice is answered as a retry
    by its id. It is not replaced by a new one: kafka-python 3.0's `close`
    flushes first and, with the broker away, raises before it stops the
    producer's thread.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.topic = settings.topic(COMMANDS_TOPIC)
        self.timeout_s = settings.timeout_s
        self._producer: KafkaProducer | None = None

    def send(self, commands: Sequence[AnyCommand]) -> None:
        try:
            producer = self._open()
            for command in commands:
                producer.send(
                    self.topic,
                    key=command.command_id.encode(),
                    value=json_encoder.encode(command),
                )
            producer.flush(timeout=self.timeout_s)
        except KafkaError as error:
            msg = f"Kafka did not take the commands on {self.topic}: {error}"
            raise SinkError(msg) from error

    def _open(self) -> KafkaProducer:
        if self._producer is None:
            create_topics(self.settings)
            self._producer = plain_producer(self.settings)
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.timeout_s)


def open_sink(store_url: str, intake_url: str | None, token: str | None) -> CommandSink:
    """The commands topic of a Kafka store; else the intake at `intake_url`."""
    if urlsplit(store_url).scheme == "kafka":
        return KafkaSink(kafka_settings(store_url))
    if intake_url is None:
        msg = (
            f"{store_url} is the embedded store: decisions go through the intake of a running "
            "`stockledger serve`; pass --intake http://host:port and --token"
        )
        raise ValueError(msg)
    return HttpSink(intake_url, token or "")
