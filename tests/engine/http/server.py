"""`stockledger serve` in a subprocess on a free port of 127.0.0.1, for tests and the bench."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

TOKEN: Final = "storefront-secret"
READ_DB_ENV: Final = "STOCKLEDGER_READ_DB"
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def running_server(
    store_url: str, log: Path, tokens: str = TOKEN, db_url: str | None = None
) -> Iterator[Server]:
    """A server on `store_url`, answering /health, until the block ends (then SIGTERM).

    Its read models are in `db_url`, else in `STOCKLEDGER_READ_DB`, else in a
    database beside `log`: never in the working directory's.
    """
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("stockledger")),
        *("serve", "--store", store_url, "--port", str(port)),
    ]
    env = {**os.environ, "STOCKLEDGER_API_TOKENS": tokens}
    if db_url is not None:
        env[READ_DB_ENV] = db_url
    env.setdefault(READ_DB_ENV, f"sqlite:///{log.with_suffix('.readmodels.db')}")
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, process, log)
            yield Server(url, process)
        finally:
            process.terminate()
            process.wait(STOP_TIMEOUT_S)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"stockledger serve exited with {process.returncode}: {log.read_text()}"
            raise RuntimeError(msg)
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    msg = f"stockledger serve did not answer /health within {START_TIMEOUT_S} s: {log.read_text()}"
    raise RuntimeError(msg)
