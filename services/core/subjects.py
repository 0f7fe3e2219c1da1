"""Schema registry subject names: which are valid, what each means, and which agency owns it.

One function, :func:`check_subject`, turns the subject a client named into the subject the
registry stores, or refuses it with Confluent's 42208 (``InvalidSubject``). Every door runs it
before anything else looks at the name: the registry's routes (a path-parameter dependency), the
registry access rule shared by the registry's token gate and the gateway's ``/registry`` proxy
(:mod:`services.core.auth.registry_access`), and schema references. So the ownership rule only
ever sees a name in the one spelling the registry keeps.

- **Characters.** Control characters (NUL included), invisible format characters (zero-width
  spaces and joiners, the byte order mark, bidirectional controls, soft hyphen), line and
  paragraph separators, surrogates, private-use and unassigned code points, and U+FFFD (what a
  percent-escape that is not UTF-8 decodes to) are refused anywhere in a name: they make two
  names that print the same.
- **Surrounding whitespace** is refused rather than trimmed: trimming would give one subject two
  spellings, and no Kafka topic (so no TopicNameStrategy subject) has any.
- **Contexts.** ``:.:<subject>`` is Confluent's spelling of ``<subject>`` in the default context,
  the only context this registry serves (``GET /contexts`` answers ``["."]``): it is resolved to
  the plain name, so it is stored, owned and served as ``<subject>``. Any other context
  (``:.alfa:alfa.records.v1-value``) is refused for every subject: stored as a literal name it
  would be a second subject that Confluent tools read as alfa's dataset in another context, which
  alfa never wrote and consumers could mistake for it.
- **Look-alikes.** A dataset's subject is ``<agency>.<dataset>.v<N>-value`` (or ``-key``), its
  topic's name, with the agency's id in lower-case ASCII; the agency owns every name of that
  shape (:func:`owner_of`). A name that only reads as one is refused, for every caller, so no
  agency can plant a look-alike of another's contract: another case, compatibility forms such as
  full-width letters or ligatures (anything NFKC and case folding map onto a dataset's subject),
  an agency part that is no agency id (``alfa`` spelled with a Cyrillic ``a``, U+0430), a dash
  that is not ``-``.
  Confusable letters inside the dataset part are the owner's own business: the agency part
  decides who may write the subject.
- **Length.** At most :data:`MAX_SUBJECT_LENGTH` characters, what the control plane stores.
- **Reserved names.** ``__GLOBAL`` and ``__EMPTY``, Confluent's internal names for the
  registry-wide settings, are refused as Confluent refuses them.

Anything else is a name, as in Confluent's API (which refuses only ISO control characters and the
reserved names): a ``/`` (``mps/address.avsc``, sent as ``mps%2Faddress.avsc``; see
:mod:`services.core.http.segments`), a ``%``, dots (``..`` included), spaces inside.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from services.core.errors import Unprocessable
from services.core.kafka.topics import AGENCY_RE

MAX_SUBJECT_LENGTH: Final = 255
DEFAULT_CONTEXT: Final = ":.:"
# A dataset's subject, and anything shaped like one: the agency's claim covers every
# ``<agency>.<name>.v<N>-value`` (or ``-key``), not only names a dataset may have today.
DATASET_SUBJECT: Final = re.compile(rf"(?P<agency>{AGENCY_RE})\.[^.]+\.v\d+-(?:value|key)")
# The same shape read loosely (any agency part, any dash): what a look-alike of one looks like.
_DASHES: Final = "\u2010\u2012\u2013\u2014\u2015\u2212\ufe58"  # NFKC maps the others to "-"
_DATASET_SHAPED: Final = re.compile(rf"[^.]+\.[^.]+\.v\d+[-{_DASHES}](?:value|key)")
# Control, format, surrogate, private-use and unassigned code points; line/paragraph separators.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_REPLACEMENT: Final = "\ufffd"
_RESERVED: Final = frozenset({"__GLOBAL", "__EMPTY"})


class InvalidSubject(Unprocessable):
    """A subject name no endpoint takes: Confluent's 42208."""

    code, error_code = "invalid_subject", 42208
    title = "Invalid subject"


def _refused(char: str) -> bool:
    return char == _REPLACEMENT or unicodedata.category(char) in _REFUSED_CATEGORIES


def _shown(name: str) -> str:
    """The name for an error message, refused characters as ``\\uXXXX`` escapes."""
    shown = "".join(f"\\u{ord(c):04x}" if _refused(c) else c for c in name[:300])
    return shown + ("..." if len(name) > 300 else "")  # noqa: PLR2004 - enough to recognise it


def _invalid(name: str, reason: str) -> InvalidSubject:
    return InvalidSubject(f"The specified subject '{_shown(name)}' is not valid: {reason}")


def check_subject(name: str) -> str:
    """The subject ``name`` (as decoded from the request) means, in the one spelling the registry
    stores; :class:`InvalidSubject` (42208) for a name no endpoint takes."""
    if not name:
        raise _invalid(name, "a subject name cannot be empty")
    bad = next((c for c in name if _refused(c)), None)
    if bad is not None:
        raise _invalid(name, f"it contains the control or invisible character U+{ord(bad):04X}")
    if name != name.strip():
        raise _invalid(name, "it begins or ends with whitespace")
    subject = _unqualified(name)
    if subject in _RESERVED:
        raise _invalid(name, "the name is reserved for the registry-wide settings")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise _invalid(name, f"it is longer than {MAX_SUBJECT_LENGTH} characters")
    _check_shape(name, subject)
    return subject


def _check_shape(name: str, subject: str) -> None:
    """Refuse a name that reads as a dataset's subject without being spelled as one."""
    folded = unicodedata.normalize("NFKC", subject).casefold()
    if not _DATASET_SHAPED.fullmatch(folded) or (
        folded == subject and DATASET_SUBJECT.fullmatch(subject)
    ):
        return
    if DATASET_SUBJECT.fullmatch(folded):
        raise _invalid(
            name,
            f"it is another spelling of the dataset subject '{folded}'; a dataset's subject is "
            "spelled exactly as its topic, in lower case",
        )
    raise _invalid(
        name,
        "it is shaped like a dataset's subject but is not one; a dataset's subject is its "
        "topic's name, <agency>.<dataset>.v<N>-value, with the agency's id in lower-case ASCII",
    )


def _unqualified(name: str) -> str:
    """``name`` without Confluent's default-context qualifier; other contexts are refused."""
    if not name.startswith(":"):
        return name
    rest = name[len(DEFAULT_CONTEXT) :]
    if not name.startswith(DEFAULT_CONTEXT):
        raise _invalid(name, "this registry serves only the default context ('.')")
    if not rest or rest.startswith(":") or rest != rest.strip():
        raise _invalid(name, "the default context's qualifier must be followed by a subject")
    return rest


def resolve_prefix(prefix: str) -> str:
    """A ``subjectPrefix`` as stored names start: the default context's qualifier dropped."""
    return prefix[len(DEFAULT_CONTEXT) :] if prefix.startswith(DEFAULT_CONTEXT) else prefix


def owner_of(subject: str) -> str | None:
    """The agency that owns a checked subject (a dataset's); None for any other subject."""
    match = DATASET_SUBJECT.fullmatch(subject)
    return match.group("agency") if match else None
