"""The broker's jars: fetched once by Maven from Maven Central, then read from a cache.

The cache lives under the user's cache directory, in a folder named after a hash of
the pom, so a new Kafka version in the pom is a new folder. A folder counts as
complete only when its manifest names every jar with its size: Maven fetches into
a scratch folder that is renamed into place after the manifest is written, so an
interrupted fetch leaves nothing that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Final

from platformdirs import user_cache_dir

from engine.kafka.errors import BrokerError

KAFKA_VERSION: Final = "4.1.1"
MANIFEST_NAME: Final = "manifest.json"
MAVEN_TIMEOUT_S: Final = 900.0
MAVEN_TAIL_LINES: Final = 25

POM: Final = resources.files("engine.kafka").joinpath("pom.xml").read_bytes()


def default_cache_dir() -> Path:
    return Path(user_cache_dir("stockledger")) / "kafka"


def cached_jars(cache_dir: Path | None = None) -> Path | None:
    """The folder of the broker's jars if the cache holds all of them, else None."""
    folder = _folder(cache_dir)
    return folder / "libs" if _complete(folder) else None


def broker_jars(
    cache_dir: Path | None = None, *, announce: Callable[[str], None] = lambda _: None
) -> Path:
    """The folder of the broker's jars, fetching them with Maven unless cached."""
    folder = _folder(cache_dir)
    if _complete(folder):
        return folder / "libs"
    announce(f"Fetching Apache Kafka {KAFKA_VERSION} with Maven into {folder} (once)")
    _fetch(folder)
    return folder / "libs"


def _folder(cache_dir: Path | None) -> Path:
    base = cache_dir if cache_dir is not None else default_cache_dir()
    return base / f"kafka-{KAFKA_VERSION}-{hashlib.sha256(POM).hexdigest()[:12]}"


def _complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        jars: dict[str, int] = manifest["jars"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    libs = folder / "libs"
    return bool(jars) and all(
        (libs / name).is_file() and (libs / name).stat().st_size == size
        for name, size in jars.items()
    )


def _fetch(folder: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Maven (`mvn`) is not on PATH; it fetches the Kafka broker from Maven Central once. "
            "Install it (Debian: apt-get install maven) or put it on PATH."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f".fetch-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        (scratch / "pom.xml").write_bytes(POM)
        _run_maven(mvn, scratch)
        _write_manifest(scratch)
        if not _complete(folder):  # another process may have finished first
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_maven(mvn: str, scratch: Path) -> None:
    command = [
        mvn,
        "--batch-mode",
        "--no-transfer-progress",
        "--file",
        str(scratch / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={scratch / 'libs'}",
    ]
    try:
        done = subprocess.run(
            command,
            cwd=scratch,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(
            f"Maven did not finish fetching Kafka within {MAVEN_TIMEOUT_S:.0f} s; "
            "check the network to Maven Central and try again."
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-MAVEN_TAIL_LINES:])
        raise BrokerError(
            f"Maven failed to fetch Apache Kafka {KAFKA_VERSION} (exit {done.returncode}). "
            f"Its last lines:\n{tail}\n"
            "Check the network to Maven Central and Maven's settings (~/.m2/settings.xml), "
            "then try again."
        )


def _write_manifest(scratch: Path) -> None:
    jars = {jar.name: jar.stat().st_size for jar in sorted((scratch / "libs").glob("*.jar"))}
    if not any(name.startswith(f"kafka_2.13-{KAFKA_VERSION}") for name in jars):
        raise BrokerError(
            f"Maven finished but fetched no kafka_2.13-{KAFKA_VERSION} jar into {scratch}; "
            "report this with the pom at engine/kafka/pom.xml."
        )
    manifest = {"kafka_version": KAFKA_VERSION, "jars": jars}
    (scratch / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
