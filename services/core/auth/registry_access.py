"""Who may do what to the schema registry: one rule for the registry's own door and for the
gateway's ``/registry`` proxy in front of it.

- Reads need any valid principal. ``POST /subjects/{subject}`` (is this schema registered?) and
  ``POST /compatibility/...`` (would it be compatible?) change nothing and count as reads.
- Writes need ``registry:write``, and
  - on a dataset's subject (``<agency>.<dataset>.v<major>-value``), ownership: the caller's agency
    is ``<agency>`` (only the owner evolves its contract), or the caller is an admin;
  - on registry-wide settings (``/config``, ``/mode`` without a subject), ``admin``;
  - on any other subject (a shared type library for schema references, such as
    ``vn.gov.common.Address``), ``registry:write`` alone.

Before any of it, the subject in the path is checked (:func:`services.core.subjects.check_subject`):
a name no endpoint takes is refused (42208) on reads and writes alike, and another spelling of a
subject (``:.:alfa.records.v1-value``) is judged as the subject it means. The path is judged in
the form the registry routes on (:mod:`services.core.http.segments`: each segment decoded on its
own, so a subject may hold an encoded ``/``), and the subject segment is decoded with the same
function the registry's routes use, so the rule and the route always read the same name.
"""

from __future__ import annotations

import re
from typing import Final

from services.core.auth.errors import InsufficientScope
from services.core.auth.principal import ADMIN, REGISTRY_WRITE, Principal
from services.core.errors import Forbidden
from services.core.http.segments import decode_segment
from services.core.subjects import check_subject, owner_of

OPEN_PATHS: Final = frozenset({"/", "/healthz", "/readyz", "/metrics"})
_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_POSTS: Final = (re.compile(r"^/subjects/[^/]+/?$"), re.compile(r"^/compatibility/"))
_SUBJECT_PATH: Final = re.compile(
    r"^/(?:subjects|config|mode|compatibility/subjects)/(?P<subject>[^/]+)"
)
_GLOBAL_SETTINGS: Final = re.compile(r"^/(?:config|mode)/?$")


class NotOwner(Forbidden):
    code = "not_owner"


def is_write(method: str, path: str) -> bool:
    """Whether a request changes the registry (and so needs ``registry:write``)."""
    if method in _READ_METHODS:
        return False
    return not (method == "POST" and any(p.match(path) for p in _READ_POSTS))


def subject_of(path: str) -> str | None:
    """The checked subject a registry path (in routing form) names; None if it names none."""
    match = _SUBJECT_PATH.match(path)
    return check_subject(decode_segment(match.group("subject"))) if match else None


def authorize(principal: Principal, method: str, path: str) -> None:
    """Raise 403 unless ``principal`` may send ``method`` to the registry's ``path`` (in routing
    form, as the registry routes it); 422 (42208) if the path names an invalid subject."""
    subject = subject_of(path)
    if not is_write(method, path):
        return
    principal.require_any(REGISTRY_WRITE)
    if principal.is_admin:
        return
    if _GLOBAL_SETTINGS.match(path):
        raise InsufficientScope((ADMIN,))
    owner = None if subject is None else owner_of(subject)
    if owner is not None and owner != principal.agency:
        raise NotOwner(
            f"subject {subject} belongs to a dataset of agency {owner!r}; "
            f"agency {principal.agency!r} may read it but not change it"
        )
