"""Who may create a dataset in whose name, and how a failed creation is undone."""

from __future__ import annotations

import pytest

from services.core.auth.errors import InsufficientScope
from services.core.auth.principal import ADMIN, CATALOG_READ, PUBLISH, Principal
from services.core.errors import Forbidden
from services.gateway.catalog.datasets import Undo, owner_for


def principal(agency: str, *scopes: str) -> Principal:
    return Principal(agency, f"{agency}-tool-abcdef", frozenset(scopes), "test")


def test_publisher_creates_in_its_own_name() -> None:
    assert owner_for(principal("mps", PUBLISH), None) == "mps"
    assert owner_for(principal("mps", PUBLISH), "mps") == "mps"


def test_publisher_cannot_create_for_another_agency() -> None:
    with pytest.raises(Forbidden, match="cannot create datasets for 'mof'"):
        owner_for(principal("mps", PUBLISH), "mof")


def test_admin_may_name_another_agency() -> None:
    assert owner_for(principal("ops", ADMIN), "mof") == "mof"
    assert owner_for(principal("ops", ADMIN), None) == "ops"


def test_reader_cannot_create() -> None:
    with pytest.raises(InsufficientScope):
        owner_for(principal("mps", CATALOG_READ), None)


async def test_undo_runs_last_first_and_survives_its_own_failures() -> None:
    done: list[str] = []

    async def step(name: str) -> None:
        done.append(name)

    async def broken() -> None:
        raise RuntimeError("registry gone")

    with pytest.raises(ValueError, match="boom"):
        async with Undo("test") as undo:
            undo.push("topic", lambda: step("topic"))
            undo.push("config", broken)
            undo.push("subject", lambda: step("subject"))
            raise ValueError("boom")
    assert done == ["subject", "topic"]


async def test_undo_does_nothing_on_success() -> None:
    done: list[str] = []

    async def step() -> None:
        done.append("x")

    async with Undo("test") as undo:
        undo.push("x", step)
    assert done == []
