import pytest

from services.core.auth.errors import InsufficientScope
from services.core.auth.principal import Principal
from services.core.auth.registry_access import NotOwner, authorize, subject_of
from services.core.subjects import InvalidSubject


def principal(agency: str, *scopes: str) -> Principal:
    return Principal(agency=agency, client_id=f"{agency}-c", scopes=frozenset(scopes), issuer="i")


@pytest.mark.parametrize(
    ("path", "subject"),
    [
        ("/subjects/mps.ab.v1-value/versions", "mps.ab.v1-value"),
        ("/subjects/:.:mps.ab.v1-value/versions", "mps.ab.v1-value"),  # the default context
        ("/config/mps.ab.v1-value", "mps.ab.v1-value"),
        ("/mode/s", "s"),
        ("/compatibility/subjects/s/versions/latest", "s"),
        ("/schemas/ids/1", None),
        ("/config", None),
    ],
)
def test_subject_of(path: str, subject: str | None) -> None:
    assert subject_of(path) == subject


def test_reads_are_open_to_any_principal() -> None:
    nobody = principal("mof")
    for method, path in [
        ("GET", "/subjects"),
        ("POST", "/subjects/mps.ab.v1-value"),
        ("POST", "/compatibility/subjects/mps.ab.v1-value/versions"),
    ]:
        authorize(nobody, method, path)


def test_writes_need_registry_write_and_ownership() -> None:
    path = "/subjects/mps.ab.v1-value/versions"
    with pytest.raises(InsufficientScope):
        authorize(principal("mps"), "POST", path)
    authorize(principal("mps", "registry:write"), "POST", path)
    with pytest.raises(NotOwner):
        authorize(principal("mof", "registry:write"), "POST", path)
    with pytest.raises(NotOwner):
        authorize(principal("mof", "registry:write"), "DELETE", "/subjects/mps.ab.v1-value")
    authorize(principal("mof", "registry:write", "admin"), "DELETE", "/subjects/mps.ab.v1-value")
    with pytest.raises(InsufficientScope):
        authorize(principal("mps", "admin"), "POST", path)  # admin alone is not registry:write


def test_registry_wide_settings_are_for_admins_and_shared_subjects_for_writers() -> None:
    writer = principal("mps", "registry:write")
    with pytest.raises(InsufficientScope):
        authorize(writer, "PUT", "/config")
    with pytest.raises(InsufficientScope):
        authorize(writer, "PUT", "/mode")
    authorize(principal("mps", "registry:write", "admin"), "PUT", "/config")
    authorize(writer, "POST", "/subjects/vn.gov.common.Address/versions")


def test_other_spellings_of_a_dataset_subject_are_judged_as_it_or_refused() -> None:
    mof = principal("mof", "registry:write")
    with pytest.raises(NotOwner):
        authorize(mof, "POST", "/subjects/:.:mps.ab.v1-value/versions")
    for spelling in ("MPS.ab.v1-value", " mps.ab.v1-value", "mps.ab.v1-value\x00",
                     "mps.ab.v1-value\u200b", ":.mps:mps.ab.v1-value"):  # fmt: skip
        for method in ("POST", "GET", "DELETE"):  # a name no endpoint takes, whatever is asked
            with pytest.raises(InvalidSubject):
                authorize(mof, method, f"/subjects/{spelling}/versions")
    authorize(principal("mps", "registry:write"), "POST", "/subjects/:.:mps.ab.v1-value/versions")
