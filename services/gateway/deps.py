"""The gateway's dependencies: its typed state (:mod:`services.gateway.state`) as the
``Annotated`` parameters its routes take, and the scopes its routes require.

Every getter is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a hop each
request would pay for reading an attribute. Core's own aliases (``Core``, ``Audit``,
``Authenticated``) are imported from ``services.core``, never defined again here.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from services.core.auth.deps import require
from services.core.auth.principal import ADMIN, PUBLISH, SUBSCRIBE, Principal
from services.gateway.backends import Backends
from services.gateway.oauth.adapter import OAuthEndpoints
from services.gateway.oauth.keys import KeyStore
from services.gateway.publish.batch import PublishState
from services.gateway.state import GatewayState
from services.gateway.subscriptions.push import ConfigsWriter
from services.gateway.subscriptions.subscribe import Subscribe


def _state(request: Request) -> GatewayState:
    # each getter reads the state itself: one dependency per parameter, not a chain of two
    state: GatewayState = request.state.gateway
    return state


async def get_backends(request: Request) -> Backends:
    return _state(request).backends


async def get_publish(request: Request) -> PublishState:
    return _state(request).publish


async def get_subscribe(request: Request) -> Subscribe:
    return _state(request).subscribe


async def get_connect_configs(request: Request) -> ConfigsWriter:
    return _state(request).connect_configs


async def get_keys(request: Request) -> KeyStore:
    return _state(request).oauth.keys


async def get_oauth_endpoints(request: Request) -> OAuthEndpoints:
    return _state(request).oauth.endpoints


async def get_registry_proxy(request: Request) -> httpx.AsyncClient:
    return _state(request).registry_proxy


BackendsDep = Annotated[Backends, Depends(get_backends)]
PublishDep = Annotated[PublishState, Depends(get_publish)]
SubscribeDep = Annotated[Subscribe, Depends(get_subscribe)]
ConnectConfigsDep = Annotated[ConfigsWriter, Depends(get_connect_configs)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
OAuthEndpointsDep = Annotated[OAuthEndpoints, Depends(get_oauth_endpoints)]
RegistryProxyDep = Annotated[httpx.AsyncClient, Depends(get_registry_proxy)]

# The caller, holding the scope a route needs (403 otherwise).
AdminCaller = Annotated[Principal, Depends(require(ADMIN))]
PublishCaller = Annotated[Principal, Depends(require(PUBLISH))]
SubscribeCaller = Annotated[Principal, Depends(require(SUBSCRIBE))]
