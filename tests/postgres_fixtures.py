"""A real PostgreSQL cluster for tests and benches, registered by the top-level conftest.py.

`postgres_cluster` runs one private cluster per session, the first time a test
asks for it: `initdb` into a temporary folder and `pg_ctl start` on a free port
on 127.0.0.1, stopped at the end of the session. `postgres_url` gives each test
a fresh, empty database on it. The server binaries come from Debian's package
(`make test` installs it when missing); without them the test that asked fails
loudly: these tests never skip.

initdb refuses to run as root, so as root the cluster belongs to the `postgres`
user the package creates, in a folder that user owns; a watchdog stops the
cluster if the test run dies without reaching its teardown.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psycopg
import pytest

from tests.kafka_fixtures import free_ports

SERVER_BINARIES: Final = ("initdb", "pg_ctl", "postgres")
DEBIAN_BINDIRS: Final = "/usr/lib/postgresql"
SERVER_USER: Final = "postgres"
START_TIMEOUT_S: Final = 60


class PostgresMissingError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The folder of initdb, pg_ctl and postgres: Debian's newest, else the PATH's."""
    debian = Path(DEBIAN_BINDIRS)
    versions = sorted(
        (p for p in debian.glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    for bindir in versions:
        if all((bindir / name).is_file() for name in SERVER_BINARIES):
            return bindir
    on_path = shutil.which("initdb")
    if on_path is not None:
        bindir = Path(on_path).resolve().parent
        if all((bindir / name).is_file() for name in SERVER_BINARIES):
            return bindir
    msg = (
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) under {DEBIAN_BINDIRS}/*/bin "
        "or on PATH; install Debian's package: apt-get install -y postgresql (make test does)"
    )
    raise PostgresMissingError(msg)


@dataclass(frozen=True)
class Cluster:
    bindir: Path
    data: Path
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


def _as_server_user(argv: list[str]) -> list[str]:
    """`argv` run as the `postgres` user when this process is root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{what} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout}"
        raise RuntimeError(msg)


def start_cluster(root: Path) -> Cluster:
    bindir = find_bindir()
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, socket_dir = root / "data", root
    (port,) = free_ports(1)
    # trust on 127.0.0.1 only: the cluster lives as long as a test session.
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", SERVER_USER, "-A", "trust"]
    _run([*initdb, "-E", "UTF8", "--no-sync", "--no-locale"], "initdb")
    options = (
        f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    start = [str(bindir / "pg_ctl"), "start", "-D", str(data), "-w", "-t", str(START_TIMEOUT_S)]
    _run([*start, "-o", options, "-l", str(root / "server.log")], "pg_ctl start")
    return Cluster(bindir=bindir, data=data, port=port, user=SERVER_USER)


def stop_cluster(cluster: Cluster) -> None:
    _run([str(cluster.bindir / "pg_ctl"), "stop", "-D", str(cluster.data), "-m", "fast"], "stop")


def _watchdog(cluster: Cluster) -> subprocess.Popen[bytes]:
    """Stops the cluster once this process is gone, should its teardown never run."""
    pg_ctl = [str(cluster.bindir / "pg_ctl"), "stop", "-D", str(cluster.data), "-m", "immediate"]
    stop = " ".join(_as_server_user(pg_ctl))
    script = f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1"
    return subprocess.Popen(["sh", "-c", script], start_new_session=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    # Not pytest's tmp_path: its folders are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="stockledger-pg-"))
    try:
        cluster = start_cluster(root)
    except (PostgresMissingError, RuntimeError, KeyError) as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"The test PostgreSQL cluster did not start: {error}", pytrace=False)
    watchdog = _watchdog(cluster)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
        watchdog.kill()
        watchdog.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_cluster.url(name)
    with psycopg.connect(postgres_cluster.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
