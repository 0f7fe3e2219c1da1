"""``/compatibility``: would this schema be accepted by a subject?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.registry import errors
from services.registry.deps import RegistryDep, Subject, read_json, reply
from services.registry.registry import SchemaRequest

router = APIRouter(prefix="/compatibility", tags=["compatibility"], route_class=JsonRoute)


async def _test(
    subject: str,
    version: str | None,
    request: Request,
    registry: RegistryDep,
    *,
    normalize: bool,
    verbose: bool,
) -> Response:
    body = SchemaRequest.from_json(await read_json(request, registry))
    try:
        ok, messages, _ = await registry.test_compatibility(
            subject, version, body, normalize=normalize
        )
    except errors.InvalidSchema as exc:
        if not verbose:
            raise
        # Confluent: a verbose check reports a schema it cannot parse as the reason it is not
        # compatible (200), where a plain one answers 42201.
        ok, messages = False, [exc.message]
    answer: dict[str, Any] = {"is_compatible": ok}
    if verbose:
        answer["messages"] = messages
    return reply(answer)


@router.post(
    "/subjects/{subject:segment}/versions/{version:segment}",
    responses=raises(*errors.COMPATIBILITY),
)
async def test_against_version(
    subject: Subject,
    version: str,
    request: Request,
    registry: RegistryDep,
    normalize: bool = False,
    verbose: bool = False,
) -> Response:
    return await _test(subject, version, request, registry, normalize=normalize, verbose=verbose)


@router.post("/subjects/{subject:segment}/versions", responses=raises(*errors.COMPATIBILITY))
async def test_against_subject(
    subject: Subject,
    request: Request,
    registry: RegistryDep,
    normalize: bool = False,
    verbose: bool = False,
) -> Response:
    return await _test(subject, None, request, registry, normalize=normalize, verbose=verbose)
