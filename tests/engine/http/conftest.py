"""One `stockledger serve` per test module, on its own SQLite store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.engine.http.server import TOKEN, running_server


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('http') / 'store.db'}"


@pytest.fixture(scope="module")
def server(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("log") / "serve.log"
    with running_server(store_url, log) as running:
        yield running.url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    """Authorised with the server's token."""
    with httpx.Client(
        base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0
    ) as client:
        yield client
