"""A real local Apache Kafka 4.x broker, fetched by Maven and run by the machine's Java."""

from engine.kafka.broker import DEFAULT_DATA_DIR, DEFAULT_PORT, Broker
from engine.kafka.errors import BrokerError
from engine.kafka.jars import KAFKA_VERSION

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_PORT", "KAFKA_VERSION", "Broker", "BrokerError"]
