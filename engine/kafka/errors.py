"""The one error of the local broker: what went wrong and what to do about it."""

from __future__ import annotations


class BrokerError(Exception):
    """The local Kafka broker could not be fetched, started or stopped; the message says why."""
