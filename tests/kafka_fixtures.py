"""A real Kafka broker for tests and benches, registered by the top-level conftest.py.

`kafka_broker` starts one broker per session, the first time a test asks for it, on
free ports in a temporary folder, and stops it at the end. A missing Java or Maven
fails the test that asked, loudly: these tests never skip. `kafka_prefix` gives each
test a fresh topic-name prefix, so no test sees another's topics on the shared broker.
"""

from __future__ import annotations

import logging
import socket
import sys
import uuid
from collections.abc import Iterator

import pytest

from engine.kafka import Broker, BrokerError
from engine.store.kafka import KafkaDatastore


def free_ports(count: int) -> list[int]:
    """`count` distinct ports on 127.0.0.1 that nothing listens on right now."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    port, controller_port = free_ports(2)
    broker = Broker(
        tmp_path_factory.mktemp("kafka"),
        port=port,
        controller_port=controller_port,
        announce=lambda line: print(line, file=sys.stderr),
        die_with_parent=True,
    )
    try:
        broker.start()
    except BrokerError as error:
        pytest.fail(f"The test Kafka broker did not start: {error}", pytrace=False)
    try:
        yield broker
    finally:
        # Clients still open would retry the stopped broker from their own
        # threads and log each failure after pytest has closed its streams.
        for datastore in list(KafkaDatastore._shared.values()):
            datastore.close()
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        broker.stop()


@pytest.fixture
def kafka_prefix() -> str:
    """A topic-name prefix no other test uses, e.g. `t1a2b3c4d-`."""
    return f"t{uuid.uuid4().hex[:8]}-"
