"""A class-data archive (AppCDS) of the broker's JVM: with it a broker starts in half the time.

Loading and verifying Kafka's and Scala's classes is most of a broker's start on a
small machine. The first broker run from the cache has its JVM dump the classes it
loaded when it exits (`-XX:ArchiveClassesAtExit`) to a pending file; a stop by
SIGTERM lets the JVM finish the dump, and `settle` then renames it into place, so a
broker killed mid-dump leaves no archive. Later runs map the archive read-only
(`-XX:SharedArchiveFile`). The archive is named after the `java` that wrote it, since
another JDK build cannot use it; a JVM that still cannot use it warns in `jvm.out` and
starts as if it had none.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Final

PENDING_SUFFIX: Final = ".pending"


def jvm_options(folder: Path, java_identity: str, data_dir: Path) -> list[str]:
    """Map the archive of this `java` in `folder`, or have the broker of `data_dir` dump one."""
    archive = folder / f"broker-{_key(java_identity)}.jsa"
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"]
    # The dump warns of every class it skips; that is noise in jvm.out.
    return [f"-XX:ArchiveClassesAtExit={_pending(archive, data_dir)}", "-Xlog:cds=off"]


def settle(folder: Path, data_dir: Path, *, exited_cleanly: bool) -> None:
    """Keep the dump of the broker of `data_dir` if it exited cleanly; drop it if killed."""
    for pending in folder.glob(f"broker-*.jsa.{_key(str(data_dir))}{PENDING_SUFFIX}"):
        archive = pending.with_name(pending.name.split(".jsa.")[0] + ".jsa")
        if exited_cleanly and not archive.is_file():
            os.replace(pending, archive)
        else:
            pending.unlink(missing_ok=True)


def _pending(archive: Path, data_dir: Path) -> Path:
    # One per data dir: two brokers that start at once do not write the same file.
    return archive.with_name(f"{archive.name}.{_key(str(data_dir))}{PENDING_SUFFIX}")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
