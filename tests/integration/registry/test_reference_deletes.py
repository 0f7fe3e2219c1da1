"""Deleting a referenced schema: Confluent checks references before the soft-delete state, so a
permanent delete of a referenced version or subject is 42206 too, and says so in its words."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.registry.helpers import (
    error,
    field,
    record,
    register_ok,
    subjects,
    versions,
)


def referenced(c: httpx.Client, subject: str) -> tuple[str, str]:
    """``<subject>-address`` v1, referenced by ``subject`` v1; returns (address subject, the
    message a delete of that version is refused with)."""
    namespace = f"del.n{uuid.uuid4().hex[:10]}"
    address_subject = f"{subject}-address"
    register_ok(c, address_subject, record("Address", field("street"), namespace=namespace))
    refs = [{"name": f"{namespace}.Address", "subject": address_subject, "version": 1}]
    person = record("Person", field("home", "Address"), namespace=namespace)
    register_ok(c, subject, person, references=refs)
    message = (
        "One or more references exist to the schema "
        f"{{magic=1,keytype=SCHEMA,subject={address_subject},version=1}}."
    )
    return address_subject, message


def test_permanent_deletes_of_a_referenced_live_schema_are_42206(
    client: httpx.Client, subject: str
) -> None:
    address_subject, message = referenced(client, subject)
    permanent = {"permanent": True}

    for params in ({}, permanent):
        assert (
            error(
                client.delete(f"/subjects/{address_subject}/versions/1", params=params), 422, 42206
            )
            == message
        )
        assert (
            error(client.delete(f"/subjects/{address_subject}", params=params), 422, 42206)
            == message
        )

    assert versions(client, address_subject) == [1]


def test_a_soft_deleted_referrer_still_blocks_a_permanent_delete(
    client: httpx.Client, subject: str
) -> None:
    """A soft delete counts references from live schemas only; a permanent one counts the
    soft-deleted referrer too, since registering it again would bring it back."""
    address_subject, message = referenced(client, subject)
    version_1 = f"/subjects/{address_subject}/versions/1"
    assert client.delete(f"/subjects/{subject}").json() == [1]

    assert client.delete(version_1).json() == 1
    assert error(client.delete(version_1, params={"permanent": True}), 422, 42206) == message
    assert (
        error(client.delete(f"/subjects/{address_subject}", params={"permanent": True}), 422, 42206)
        == message
    )
    # The soft-delete state comes before references for a soft delete: 40406, then 40404.
    error(client.delete(version_1), 404, 40406)
    error(client.delete(f"/subjects/{address_subject}"), 404, 40404)
    assert versions(client, address_subject, deleted=True) == [1]

    assert client.delete(f"/subjects/{subject}", params={"permanent": True}).json() == [1]

    assert client.delete(version_1, params={"permanent": True}).json() == 1
    assert address_subject not in subjects(client, deleted=True)


def test_references_within_a_subject_do_not_block_deleting_the_subject(
    client: httpx.Client, subject: str
) -> None:
    """Version 2 takes a type from version 1 of its own subject: deleting version 1 alone is
    refused, deleting the subject (soft, then permanent) is not (Confluent's rule)."""
    namespace = f"self.n{uuid.uuid4().hex[:10]}"
    client.put(f"/config/{subject}", json={"compatibility": "NONE"})
    register_ok(client, subject, record("Address", field("street"), namespace=namespace))
    refs = [{"name": f"{namespace}.Address", "subject": subject, "version": 1}]
    person = record("Person", field("home", "Address"), namespace=namespace)
    assert register_ok(client, subject, person, references=refs)["version"] == 2

    error(client.delete(f"/subjects/{subject}/versions/1"), 422, 42206)

    assert client.delete(f"/subjects/{subject}").json() == [1, 2]
    assert client.delete(f"/subjects/{subject}", params={"permanent": True}).json() == [1, 2]
    assert subject not in subjects(client, deleted=True)


def test_an_unreferenced_live_version_is_checked_before_a_referenced_one(
    client: httpx.Client, subject: str
) -> None:
    """A permanent subject delete walks versions oldest first, each checked for references and
    then for its soft delete: a live v1 answers 40405 before a referenced v2 is reached."""
    namespace = f"order.n{uuid.uuid4().hex[:10]}"
    address = record("Address", field("street"), namespace=namespace)
    register_ok(client, subject, address)
    evolved = record(
        "Address",
        field("street"),
        field("ward", ["null", "string"], default=None),
        namespace=namespace,
    )
    register_ok(client, subject, evolved)
    refs = [{"name": f"{namespace}.Address", "subject": subject, "version": 2}]
    register_ok(
        client,
        f"{subject}-user",
        record("Person", field("home", "Address"), namespace=namespace),
        references=refs,
    )

    error(client.delete(f"/subjects/{subject}", params={"permanent": True}), 404, 40405)
    assert client.delete(f"/subjects/{subject}/versions/1").json() == 1
    error(client.delete(f"/subjects/{subject}", params={"permanent": True}), 422, 42206)
    error(client.delete(f"/subjects/{subject}/versions/2"), 422, 42206)
