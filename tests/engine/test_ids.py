"""Bulk ids are the UUIDs the standard library would make."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from engine.commands import command_uuid, command_uuids
from engine.ids import name_uuid, name_uuids, random_uuids


@given(namespace=st.uuids(), name=st.text())
def test_name_uuid_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    made = name_uuid(namespace.bytes, name)
    expected = uuid.uuid5(namespace, name)
    assert made == expected
    assert str(made) == str(expected)
    assert hash(made) == hash(expected)
    assert made.version == 5


@given(namespace=st.uuids(), names=st.lists(st.text(), max_size=50))
def test_name_uuids_are_uuid5_in_order(namespace: uuid.UUID, names: list[str]) -> None:
    made = name_uuids(namespace.bytes, names)
    assert made == [uuid.uuid5(namespace, name) for name in names]
    assert [str(u) for u in made] == [str(uuid.uuid5(namespace, name)) for name in names]
    assert [hash(u) for u in made] == [hash(uuid.uuid5(namespace, name)) for name in names]


def test_command_ids_in_bulk_name_what_one_at_a_time_does() -> None:
    ids = ["web-81723", "", "web-81723", "é" * 300]
    assert command_uuids(ids) == [command_uuid(i) for i in ids]


def test_a_command_id_names_the_same_uuid_as_uuid5() -> None:
    namespace = uuid.UUID("6f1d3c52-6a47-4c1e-9d0b-5e2b7a1c9f30")
    assert command_uuid("web-81723") == uuid.uuid5(namespace, "web-81723")


def test_random_uuids_are_distinct_version_4_uuids() -> None:
    ids = random_uuids(10_000)
    assert len(set(ids)) == len(ids)
    assert {u.version for u in ids} == {4}
    assert {u.variant for u in ids} == {uuid.RFC_4122}
    assert all(uuid.UUID(str(u)) == u for u in ids[:100])


def test_random_uuids_of_none_and_of_one() -> None:
    assert random_uuids(0) == []
    (one,) = random_uuids(1)
    assert one.version == 4
