"""Who sees which dataset, and what a search matches."""

from __future__ import annotations

import pytest

from services.core.auth.principal import ADMIN, CATALOG_READ, Principal
from services.core.db.models import Dataset
from services.gateway.catalog.entries import _matches, _words, visible_to


def principal(agency: str, *scopes: str) -> Principal:
    return Principal(agency, f"{agency}-tool-abcdef", frozenset(scopes), "test")


def dataset(agency: str, access: str, name: str = "things", **extra: object) -> Dataset:
    return Dataset(
        id=f"{agency}.{name}",
        agency_id=agency,
        name=name,
        access_rights=access,
        title=extra.get("title", "Things"),
        description=extra.get("description", ""),
        keywords=extra.get("keywords", []),
    )


@pytest.mark.parametrize("access", ["PUBLIC", "RESTRICTED"])
def test_public_and_restricted_are_listed_to_everyone(access: str) -> None:
    assert visible_to(principal("mof", CATALOG_READ), dataset("mps", access))


def test_non_public_only_to_owner_admin_and_agreement_holders() -> None:
    hidden = dataset("mps", "NON_PUBLIC")
    assert visible_to(principal("mps", CATALOG_READ), hidden)
    assert visible_to(principal("ndxp-ops", CATALOG_READ, ADMIN), hidden)
    assert not visible_to(principal("mof", CATALOG_READ), hidden)
    assert visible_to(principal("mof", CATALOG_READ), hidden, granted={"mps.things"})
    assert not visible_to(principal("mof", CATALOG_READ), hidden, granted={"mps.other"})


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("", True),
        ("cư trú", True),
        ("CU TRU", True),
        ("residence", True),
        ("mps.residence", True),
        ("đăng ký", True),
        ("dang ky thuong tru", True),
        ("vehicles", False),
        ("cư vehicles", False),
    ],
)
def test_search_folds_case_and_diacritics(query: str, hit: bool) -> None:
    found = dataset(
        "mps",
        "PUBLIC",
        name="residence-changes",
        title="Thay đổi cư trú",
        description="Đăng ký thường trú và tạm trú",
        keywords=["population"],
    )
    assert _matches(found, _words(query)) is hit
