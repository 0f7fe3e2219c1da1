"""The OpenAPI document of a service: every operation lists the errors it can answer, in the body
format the service really renders, with the machine codes that can come back.

Errors are declared once, where they arise:

- a route names the errors of its logic: ``@router.get(..., responses=raises(DatasetNotFound))``;
- a dependency names its own with :func:`raising` (``authenticate``: 401, 429, 503; a scope
  check: 403), so every route that uses it documents them;
- a middleware in front of every route (the registry's and connect's token gates) says what it
  answers through ``documented_errors(method, path)``;
- request validation adds 422 (and 400 for a JSON body that does not parse) where FastAPI
  validates something that can fail, and every operation can answer 500.

:func:`document_errors` turns all of it into each operation's responses: the service's format
(``application/problem+json``, or Confluent's ``{"error_code", "message"}``) as a schema under
``components``, narrowed per status to the codes that status can carry. FastAPI's own
``HTTPValidationError`` 422 never appears: the real 422 is documented instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, TypeVar

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from services.core.bounded_json import InvalidJson, JsonNumberOutOfRange, JsonTooDeep
from services.core.errors import NdxpError
from services.core.http.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    SCHEMA_REGISTRY_MEDIA_TYPE,
    ErrorKind,
    ErrorRenderer,
    confluent_code,
    confluent_json,
    problem_json,
)

Declared = type[NdxpError] | ErrorKind
Call = TypeVar("Call", bound=Callable[..., Any])

_DECLARED: Final = (
    "x-ndxp-errors"  # carries a route's declarations until document_errors reads them
)
_RAISES: Final = "__ndxp_raises__"  # a dependency's declarations, set by @raising
_SCHEMAS: Final = "#/components/schemas/"
# What a JSON body FastAPI parses can be refused with (services.core.http.json_body)
JSON_ERRORS: Final = (InvalidJson, JsonTooDeep, JsonNumberOutOfRange)


@dataclass(frozen=True)
class ErrorFormat:
    """How a service spells an error on the wire, as a JSON schema."""

    name: str  # the schema's name under components/schemas
    media_type: str
    schema: dict[str, Any]
    narrow: Callable[[Sequence[ErrorKind]], dict[str, Any]]  # the properties one status pins
    label: Callable[[ErrorKind], str]  # a code as the description names it


def _problem_codes(kinds: Sequence[ErrorKind]) -> dict[str, Any]:
    codes = sorted({kind.code for kind in kinds})
    return {
        "status": {"const": kinds[0].status},
        "code": {"enum": codes},
        "type": {"enum": [f"urn:ndxp:problem:{code}" for code in codes]},
    }


def _confluent_codes(kinds: Sequence[ErrorKind]) -> dict[str, Any]:
    return {"error_code": {"enum": sorted({confluent_code(k.status, k.error_code) for k in kinds})}}


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


PROBLEM: Final = ErrorFormat(
    "Problem",
    "application/problem+json",
    {
        "type": "object",
        "description": "RFC 9457 problem details with ndxp's stable machine code.",
        "required": ["type", "title", "status", "detail", "code", "instance"],
        "properties": {
            "type": _string("urn:ndxp:problem:<code>"),
            "title": _string("Short summary of the kind of problem."),
            "status": {"type": "integer", "description": "The HTTP status."},
            "detail": _string("What went wrong in this request."),
            "code": _string("Stable machine-readable code: branch on this."),
            "instance": _string("urn:ndxp:request:<request id>, as in the X-Request-ID header."),
            "errors": {
                "type": "array",
                "description": "Itemised causes: invalid fields, records of a batch, ...",
                "items": {"type": "object"},
            },
        },
    },
    _problem_codes,
    lambda kind: f"`{kind.code}` ({kind.title})",
)
CONFLUENT: Final = ErrorFormat(
    "ConfluentError",
    SCHEMA_REGISTRY_MEDIA_TYPE,
    {
        "type": "object",
        "description": "Confluent Schema Registry's error body.",
        "required": ["error_code", "message"],
        "properties": {
            "error_code": {"type": "integer", "description": "Confluent's code: 40401, 42201..."},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
    _confluent_codes,
    lambda kind: f"`{confluent_code(kind.status, kind.error_code)}` {kind.code.replace('_', ' ')}",
)
OAUTH2: Final = ErrorFormat(
    "OAuth2Error",
    "application/json",
    {
        "type": "object",
        "description": "An OAuth 2.0 error response (RFC 6749 section 5.2).",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
        },
    },
    lambda kinds: {"error": {"enum": sorted({kind.code for kind in kinds})}},
    lambda kind: f"`{kind.code}` ({kind.title})",
)
_BY_RENDERER: Final[dict[ErrorRenderer, ErrorFormat]] = {
    problem_json: PROBLEM,
    confluent_json: CONFLUENT,
}
_BY_NAME: Final = {fmt.name: fmt for fmt in (PROBLEM, CONFLUENT, OAUTH2)}
SECURITY_SCHEMES: Final = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "basic": {"type": "http", "scheme": "basic", "description": "client_id:client_secret"},
}


def kind_of(error: Declared) -> ErrorKind:
    if isinstance(error, ErrorKind):
        return error
    return ErrorKind(error.status, error.code, error.title, error.error_code)


def raises(*errors: Declared, wire: ErrorFormat | None = None) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: the errors its own logic raises (authentication, scope checks
    and validation are added from its dependencies and parameters). ``wire`` names another
    format than the service's, for routes that answer in one of their own (OAuth2's)."""
    declared: dict[int | str, dict[str, Any]] = {}
    for kind in map(kind_of, errors):
        entry = declared.setdefault(kind.status, {"description": kind.title, _DECLARED: []})
        item = {"status": kind.status, "code": kind.code, "title": kind.title}
        item |= {} if kind.error_code is None else {"error_code": kind.error_code}
        entry[_DECLARED].append(item | ({"format": wire.name} if wire else {}))
    return declared


def raising(*errors: Declared) -> Callable[[Call], Call]:
    """Mark a dependency with the errors it raises: every route using it documents them."""

    def mark(call: Call) -> Call:
        setattr(call, _RAISES, tuple(map(kind_of, errors)))
        return call

    return mark


def _dependency_errors(dependant: Dependant) -> Iterator[ErrorKind]:
    yield from getattr(dependant.call, _RAISES, ())
    for sub in dependant.dependencies:
        yield from _dependency_errors(sub)


def _can_fail(field: Any, *, in_path: bool) -> bool:
    """Whether FastAPI may refuse this parameter: anything but an unconstrained string that is
    either optional or in the path (where routing guarantees it)."""
    info = field.field_info
    if info.annotation not in (str, str | None) or info.metadata:
        return True
    return not in_path and info.is_required()


def _validation_errors(dependant: Dependant) -> Iterator[ErrorKind]:
    if dependant.body_params:
        yield from (*map(kind_of, JSON_ERRORS), INVALID_REQUEST)
    outside = (*dependant.query_params, *dependant.header_params, *dependant.cookie_params)
    if any(_can_fail(field, in_path=False) for field in outside) or any(
        _can_fail(field, in_path=True) for field in dependant.path_params
    ):
        yield INVALID_REQUEST
    for sub in dependant.dependencies:
        yield from _validation_errors(sub)


def _route_contexts(app: FastAPI) -> Iterator[Any]:
    """Every API route with what its routers added (prefix, responses), across FastAPI versions
    (newer ones include routers lazily and expose route contexts)."""
    iterate = getattr(routing, "iter_route_contexts", None)
    contexts: Iterable[Any] = iterate(app.routes) if iterate else app.routes
    for context in contexts:
        original = getattr(context, "original_route", context)
        if isinstance(original, routing.APIRoute) and context.include_in_schema:
            yield context


Documented = tuple[ErrorKind, ErrorFormat]


def _declared(responses: dict[str, Any], fmt: ErrorFormat) -> Iterator[Documented]:
    """The route's own declarations, taken out of the responses FastAPI copied them into; and
    FastAPI's default 422, which is not what ndxp answers."""
    for status, response in list(responses.items()):
        if _SCHEMAS + "HTTPValidationError" in str(response.get("content")):
            del responses[status]
        for item in response.pop(_DECLARED, ()):
            kind = ErrorKind(item["status"], item["code"], item["title"], item.get("error_code"))
            yield kind, _BY_NAME[item["format"]] if "format" in item else fmt


def _response(kinds: Sequence[ErrorKind], fmt: ErrorFormat) -> dict[str, Any]:
    named = ", ".join(fmt.label(kind) for kind in kinds)
    schema = {"allOf": [{"$ref": _SCHEMAS + fmt.name}], "properties": fmt.narrow(kinds)}
    return {
        "description": f"{HTTPStatus(kinds[0].status).phrase}: {named}",
        "content": {fmt.media_type: {"schema": schema}},
    }


def operation_errors(operation: dict[str, Any], documented: Iterable[Documented]) -> None:
    """Write the errors into one operation's responses, one entry a status (in the format the
    route declared for it, else the service's)."""
    by_status: dict[int, dict[str, ErrorKind]] = {}
    formats: dict[int, ErrorFormat] = {}
    for kind, fmt in documented:
        by_status.setdefault(kind.status, {})[kind.code] = kind
        formats.setdefault(kind.status, fmt)
    responses = operation.setdefault("responses", {})
    for status, named in sorted(by_status.items()):
        kinds = sorted(named.values(), key=lambda k: k.code)
        responses[str(status)] = _response(kinds, formats[status])
    if "401" in responses:
        operation.setdefault("security", [{name: []} for name in SECURITY_SCHEMES])


MiddlewareErrors = Callable[[str, str], Iterable[Declared]]


def document_errors(
    app: FastAPI, render: ErrorRenderer, middleware: Iterable[Callable[..., Any]] = ()
) -> None:
    """Make ``app``'s OpenAPI document list, on every operation, the errors it can answer in the
    format ``render`` writes (``middleware`` that answers on its own declares its errors with a
    ``documented_errors(method, path)`` attribute)."""
    fmt = _BY_RENDERER[render]
    gates: list[MiddlewareErrors] = [
        gate for gate in (getattr(m, "documented_errors", None) for m in middleware) if gate
    ]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        used = {fmt.name}
        for context in _route_contexts(app):
            for method in sorted(context.methods):
                operation = document["paths"][context.path_format][method.lower()]
                declared = list(_declared(operation.get("responses", {}), fmt))
                kinds = [
                    *_dependency_errors(context.dependant),
                    *_validation_errors(context.dependant),
                    *(kind_of(e) for gate in gates for e in gate(method, context.path_format)),
                    INTERNAL_ERROR,
                ]
                operation_errors(operation, [*declared, *((kind, fmt) for kind in kinds)])
                used.update(fmt.name for _, fmt in declared)
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas.update({name: _BY_NAME[name].schema for name in sorted(used)})
        components["securitySchemes"] = SECURITY_SCHEMES
        return document

    app.openapi = openapi  # type: ignore[method-assign]
