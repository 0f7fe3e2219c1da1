"""Contract linting: an ndxp contract must be valid Avro, documented, well named and classified.

Rules (``Finding.rule``):

``invalid``
    Not JSON, not Avro (``fastavro.parse_schema`` refuses it), a record without a ``fields``
    list or with a field name used twice, or a union default that does not match the union's
    first branch (Avro's rules, which fastavro does not enforce but Java clients do).
``top-level``
    The top-level schema is not a record.
``record-doc`` / ``enum-doc`` / ``field-doc``
    A record (at any depth), an enum or a field has no non-empty ``doc``.
``naming``
    Names are Avro names (``[A-Za-z_][A-Za-z0-9_]*``) and follow the house style: records, enums
    and fixed types in PascalCase; enum symbols in UPPER_SNAKE_CASE; namespace segments in
    lower case; field names in snake_case (the ndxp house style, used by every sample contract)
    or camelCase (accepted for contracts that mirror an existing JSON API) but never both in one
    contract: the first field whose name shows a style (an ``_`` or an upper-case letter) sets it,
    and every field of the other style is a finding. A single lower-case word fits both.
``namespace``
    When an expected namespace is given (``vn.gov.<agency>``, see :func:`expected_namespace`), the
    top-level namespace equals it or lies under it (``vn.gov.mps.population``).
``pii-class``
    A ``pii`` attribute is ``"basic"`` or ``"sensitive"`` (:data:`PII_CLASSES`), or JSON ``null``
    to record that a field was reviewed and is not personal data.
``pii-placement``
    ``pii`` is an attribute of a field; on a type it is ignored by every consumer of the tags.
``pii-suspect``
    A field whose name suggests personal data (:data:`PII_SUSPECT_FRAGMENTS`) has no ``pii``
    attribute. Tag it, or write ``"pii": null`` once someone has checked it is not personal data.

``Finding.path`` is a JSON Pointer into the schema document (``/fields/3/type/fields/0``; the
empty string is the whole document); messages name fields by their dotted path.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from services.core import bounded_json
from services.core.avro.pii import PII_CLASSES, pii_class
from services.core.kafka.topics import check_agency

NAMESPACE_ROOT: Final = "vn.gov"
_NO_NAMED: Mapping[str, Any] = MappingProxyType({})

#: Name fragments (snake_case, matched against whole words of a field name, camelCase split
#: into words) that suggest personal data under Decree 13/2023/NĐ-CP. Vietnamese fragments are
#: written without diacritics, as they appear in identifiers. Grouped by the decree's categories.
PII_SUSPECT_FRAGMENTS: Final[tuple[str, ...]] = (
    # names (basic)
    "full_name", "first_name", "last_name", "given_name", "family_name", "middle_name",
    "surname", "maiden_name", "person_name", "owner_name", "holder_name", "representative_name",
    "ho_ten", "ho_va_ten", "ten_khai_sinh", "ten_chu",
    # birth, sex, nationality, family (basic)
    "birth", "birthdate", "birthday", "birthplace", "dob", "ngay_sinh", "nam_sinh", "noi_sinh",
    "que_quan", "gender", "sex", "gioi_tinh", "nationality", "quoc_tich", "marital",
    "hon_nhan", "spouse", "father", "mother",
    # residence and contact (basic)
    "address", "residence", "dia_chi", "thuong_tru", "tam_tru", "noi_o", "cho_o",
    "phone", "telephone", "mobile", "msisdn", "email", "so_dien_thoai", "dien_thoai",
    "thu_dien_tu",
    # identity numbers, licences, plates, insurance cards (basic)
    "citizen_id", "national_id", "id_number", "id_card", "identity_number", "personal_id",
    "owner_id", "holder_id", "representative_id", "cccd", "cmnd", "can_cuoc", "dinh_danh",
    "passport", "ho_chieu", "driver_license", "driving_licence", "license_number",
    "giay_phep_lai_xe", "bang_lai", "plate_number", "license_plate", "bien_so",
    "social_insurance", "bhxh", "health_insurance", "bhyt", "card_number", "so_the", "ma_the",
    "photo", "portrait", "anh_chan_dung",
    # health (sensitive)
    "health", "suc_khoe", "medical", "diagnosis", "disease", "chronic", "icd", "icd10",
    "chan_doan", "benh", "benh_an", "genetic", "dna",
    # beliefs, origin, sex life (sensitive)
    "religion", "ton_giao", "political", "chinh_tri", "party_member", "dang_vien", "ethnicity",
    "ethnic", "race", "dan_toc", "sexual", "sexual_orientation",
    # biometrics (sensitive)
    "biometric", "fingerprint", "face", "iris", "sinh_trac", "van_tay", "khuon_mat",
    # criminal records (sensitive)
    "criminal", "conviction", "tien_an", "ly_lich_tu_phap",
    # financial (sensitive)
    "bank_account", "account_number", "credit_card", "iban", "income", "salary", "so_tai_khoan",
    "tai_khoan_ngan_hang", "thu_nhap",
    # location tracking (sensitive)
    "gps", "geolocation", "location_history", "dinh_vi",
)  # fmt: skip


class LintLevel(StrEnum):
    """How the registry applies the linter to a new contract version.

    ``off``: not run. ``warn``: run, findings are returned and logged, the schema is accepted.
    ``enforce``: any finding refuses the schema.
    """

    OFF = "off"
    WARN = "warn"
    ENFORCE = "enforce"


@dataclass(frozen=True)
class Finding:
    """One problem in a contract: a stable rule id, a JSON Pointer, a human message."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.rule}: {self.message}"


def expected_namespace(agency: str) -> str:
    """The namespace of an agency's contracts: ``vn.gov.<agency>`` with ``-`` mapped to ``_``."""
    return f"{NAMESPACE_ROOT}.{check_agency(agency).replace('-', '_')}"


def lint_text(
    text: str, *, namespace: str | None = None, named: Mapping[str, Any] = _NO_NAMED
) -> list[Finding]:
    """Lint a contract given as JSON text (see :func:`lint_contract`)."""
    try:
        schema = bounded_json.loads(text, max_depth=bounded_json.MAX_DEPTH_CAP, what="the contract")
    except bounded_json.InvalidJson as exc:
        return [Finding("invalid", "", exc.message)]
    return lint_contract(schema, namespace=namespace, named=named)


def lint_contract(
    schema: Any, *, namespace: str | None = None, named: Mapping[str, Any] = _NO_NAMED
) -> list[Finding]:
    """Every finding for a parsed schema; an empty list means the contract is clean.

    ``namespace`` is the expected top-level namespace (``expected_namespace(agency)``); ``None``
    skips that rule. ``named`` holds the types the schema takes from schema references, by full
    name (only the names matter: referenced types are linted in their own subjects). A schema
    that is not valid Avro gets a single ``invalid`` finding.
    """
    try:
        fastavro.parse_schema(copy.deepcopy(schema), named_schemas={name: {} for name in named})
        linter = _Linter()
        if not (isinstance(schema, Mapping) and schema.get("type") in ("record", "error")):
            linter.add("top-level", "", "the top-level schema must be a record")
        elif namespace is not None:
            linter.check_namespace(schema, namespace)
        linter.walk(schema, "", "")
    except (SchemaParseException, UnknownType, TypeError, KeyError, ValueError) as exc:
        return [Finding("invalid", "", f"not a valid Avro schema: {exc}")]
    except RecursionError:
        return [Finding("invalid", "", "not a valid Avro schema: nested too deeply")]
    return linter.findings


def pii_suspect_fragment(name: str) -> str | None:
    """The first :data:`PII_SUSPECT_FRAGMENTS` entry found in a field name, else ``None``."""
    words = f"_{_words(name)}_"
    return next((frag for frag in PII_SUSPECT_FRAGMENTS if f"_{frag}_" in words), None)


_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*")
_UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_NAMESPACE_PART = re.compile(r"[a-z_][a-z0-9_]*")
_WORD = re.compile(r"[a-z][a-z0-9]*")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_CAMEL = re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(name: str) -> str:
    return "_".join(w for w in _CAMEL_HUMP.sub("_", name).lower().split("_") if w)


def _field_style(name: str) -> str | None:
    if _SNAKE.fullmatch(name):
        return "snake_case"
    return "camelCase" if _CAMEL.fullmatch(name) else None


def _top_namespace(schema: Mapping[str, Any]) -> str:
    name = schema.get("name")
    if isinstance(name, str) and "." in name:
        return name.rpartition(".")[0]
    namespace = schema.get("namespace")
    return namespace if isinstance(namespace, str) else ""


def _is_null(branch: Any) -> bool:
    return branch == "null" or (isinstance(branch, Mapping) and branch.get("type") == "null")


def _has_doc(node: Mapping[str, Any]) -> bool:
    doc = node.get("doc")
    return isinstance(doc, str) and doc.strip() != ""


@dataclass
class _Linter:
    findings: list[Finding] = field(default_factory=list)
    style: tuple[str, str] | None = None  # (style, field path that set it)

    def add(self, rule: str, path: str, message: str) -> None:
        self.findings.append(Finding(rule, path, message))

    def check_namespace(self, schema: Mapping[str, Any], expected: str) -> None:
        actual = _top_namespace(schema)
        if actual != expected and not actual.startswith(f"{expected}."):
            shown = repr(actual) if actual else "no namespace"
            self.add("namespace", "", f"namespace must be {expected!r} or under it, not {shown}")

    def walk(self, schema: Any, ptr: str, prefix: str) -> None:
        """Lint the type at ``ptr``; ``prefix`` is the dotted path of the enclosing field."""
        if isinstance(schema, list):
            for i, branch in enumerate(schema):
                self.walk(branch, f"{ptr}/{i}", prefix)
            return
        if not isinstance(schema, Mapping):
            return  # a primitive or a reference: linted where it is defined
        if "pii" in schema:
            self.add("pii-placement", ptr, "'pii' belongs on the field, not on its type")
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            self.named_type(schema, ptr, str(kind))
        if kind in ("record", "error"):
            self.record(schema, ptr, prefix)
        elif kind == "enum":
            self.enum(schema, ptr)
        elif kind == "array":
            self.walk(schema.get("items"), f"{ptr}/items", prefix)
        elif kind == "map":
            self.walk(schema.get("values"), f"{ptr}/values", prefix)
        elif isinstance(kind, (list, Mapping)):
            self.walk(kind, f"{ptr}/type", prefix)

    def named_type(self, schema: Mapping[str, Any], ptr: str, kind: str) -> None:
        namespace, _, name = str(schema.get("name", "")).rpartition(".")
        if not _PASCAL.fullmatch(name):
            self.add("naming", ptr, f"{kind} name {name!r} must be PascalCase")
        explicit = schema.get("namespace")
        for space in (namespace, explicit if isinstance(explicit, str) else ""):
            if space and not all(_NAMESPACE_PART.fullmatch(p) for p in space.split(".")):
                self.add("naming", ptr, f"namespace {space!r}: dotted lower-case Avro names")

    def record(self, schema: Mapping[str, Any], ptr: str, prefix: str) -> None:
        if not _has_doc(schema):
            self.add("record-doc", ptr, f"record {schema.get('name')!r} has no doc")
        if not isinstance(schema.get("fields"), list):
            self.add("invalid", ptr, f"record {schema.get('name')!r} has no 'fields' list")
        seen: set[str] = set()
        for i, fld in enumerate(schema.get("fields") or []):
            name = str(fld["name"])
            fptr = f"{ptr}/fields/{i}"
            if name in seen:
                self.add("invalid", fptr, f"field {prefix}{name!r} is defined twice")
            seen.add(name)
            self.field(fld, fptr, f"{prefix}{name}")
            self.walk(fld.get("type"), f"{fptr}/type", f"{prefix}{name}.")

    def enum(self, schema: Mapping[str, Any], ptr: str) -> None:
        if not _has_doc(schema):
            self.add("enum-doc", ptr, f"enum {schema.get('name')!r} has no doc")
        for i, symbol in enumerate(schema.get("symbols", [])):
            if not _UPPER_SNAKE.fullmatch(str(symbol)):
                self.add("naming", f"{ptr}/symbols/{i}", f"symbol {symbol!r}: UPPER_SNAKE_CASE")

    def field(self, fld: Mapping[str, Any], ptr: str, path: str) -> None:
        if not _has_doc(fld):
            self.add("field-doc", ptr, f"field {path!r} has no doc")
        self.field_name(str(fld["name"]), ptr, path)
        self.field_pii(fld, ptr, path)
        self.union_default(fld, ptr, path)

    def field_name(self, name: str, ptr: str, path: str) -> None:
        if not _AVRO_NAME.fullmatch(name):
            self.add("naming", ptr, f"field name {name!r} is not an Avro name")
            return
        if _WORD.fullmatch(name):
            return
        style = _field_style(name)
        if style is None:
            self.add("naming", ptr, f"field name {name!r} is neither snake_case nor camelCase")
        elif self.style is None:
            self.style = (style, path)
        elif self.style[0] != style:
            set_style, set_by = self.style
            self.add(
                "naming",
                ptr,
                f"field {path!r} is {style} but the contract uses {set_style} (from {set_by!r})",
            )

    def field_pii(self, fld: Mapping[str, Any], ptr: str, path: str) -> None:
        if "pii" in fld:
            value = fld["pii"]
            if value is not None and value not in PII_CLASSES:
                self.add(
                    "pii-class", ptr, f"field {path!r}: pii {value!r} is not one of {PII_CLASSES}"
                )
        elif pii_class(fld) is None and (fragment := pii_suspect_fragment(str(fld["name"]))):
            # a field Confluent's tooling tagged PII is classified (pii_class reads both)
            self.add(
                "pii-suspect",
                ptr,
                f"field {path!r} looks like personal data ({fragment!r}) but has no 'pii' class",
            )

    def union_default(self, fld: Mapping[str, Any], ptr: str, path: str) -> None:
        branches = fld.get("type")
        if not (isinstance(branches, list) and branches and "default" in fld):
            return
        null_first, default = _is_null(branches[0]), fld["default"]
        if null_first and default is not None:
            self.add("invalid", ptr, f"field {path!r}: a union starting with null defaults to null")
        elif not null_first and default is None:
            self.add(
                "invalid", ptr, f"field {path!r}: a null default needs null first in the union"
            )
