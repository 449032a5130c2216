"""What `stockledger serve` runs with: the store, the tokens, the limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

from engine.engine import EngineSettings
from projections.db import DEFAULT_DB_URL

TOKENS_ENV: Final = "STOCKLEDGER_API_TOKENS"
# A full batch of the biggest commands (64 lines each) fits with room to spare.
REQUEST_BYTES_MAX: Final = 4 * 1024 * 1024
COMMANDS_PER_REQUEST_MAX: Final = 1_000
# How long GET /health waits on the store before it calls the store unreachable.
HEALTH_STORE_TIMEOUT_S: Final = 2.0


class SettingsError(ValueError):
    """Settings the API cannot start with."""


def tokens_from_env(value: str | None = None) -> tuple[str, ...]:
    """Tokens from `STOCKLEDGER_API_TOKENS`: comma separated, blanks ignored."""
    raw = os.environ.get(TOKENS_ENV, "") if value is None else value
    return tuple(token.strip() for token in raw.split(",") if token.strip())


@dataclass(frozen=True)
class HttpSettings:
    """`tokens`: the bearer tokens storefronts may send; at least one.

    `read_db_url`: the read models' database, as `stockledger project` builds it.
    """

    store_url: str
    tokens: tuple[str, ...]
    read_db_url: str = DEFAULT_DB_URL
    engine: EngineSettings = field(default_factory=EngineSettings)
    request_bytes_max: int = REQUEST_BYTES_MAX

    def __post_init__(self) -> None:
        if not self.tokens:
            msg = f"no API token: set {TOKENS_ENV} (comma separated) or pass --token"
            raise SettingsError(msg)
