"""Event ids in bulk: random (version 4) UUIDs at a fraction of `uuid.uuid4`'s cost.

`uuid4()` reads the OS's randomness once per id and runs UUID's checking
constructor; a batch of ten thousand events paid more for its ids than for
deciding them. Here one read of randomness serves the whole batch, and each
UUID is built from an integer that is a valid version-4 value by construction.
"""

from __future__ import annotations

import os
from hashlib import sha1
from typing import Final
from uuid import UUID, SafeUUID

# Clears the version and variant fields of a UUID's integer.
_VERSION_4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4_SET: Final = (0x4000 << 64) | (0x8000 << 48)
# Read once: an enum member read through its class costs a descriptor call.
_UNKNOWN: Final = SafeUUID.unknown
_new = object.__new__
_set = object.__setattr__


# A name-based (version 5) UUID keeps the same two fields fixed, to 5 and RFC 4122.
_VERSION_5_SET: Final = (0x5000 << 64) | (0x8000 << 48)


def name_uuid(namespace: bytes, name: str) -> UUID:
    """`uuid.uuid5(UUID(bytes=namespace), name)`, built without its checking constructor."""
    digest = sha1(namespace + name.encode(), usedforsecurity=False).digest()
    return _uuid(int.from_bytes(digest[:16]) & _VERSION_4_CLEAR | _VERSION_5_SET)


def _uuid(value: int) -> UUID:
    uid = _new(UUID)
    # UUID is immutable through __setattr__; this is how its own
    # constructor sets the same two slots.
    _set(uid, "int", value)
    _set(uid, "is_safe", _UNKNOWN)
    return uid


def random_uuids(count: int) -> list[UUID]:
    """`count` random version-4 UUIDs."""
    raw = os.urandom(16 * count)
    from_bytes = int.from_bytes
    ids = []
    for at in range(0, 16 * count, 16):
        ids.append(_uuid(from_bytes(raw[at : at + 16]) & _VERSION_4_CLEAR | _VERSION_4_SET))
    return ids
