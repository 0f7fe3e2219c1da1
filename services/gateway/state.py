"""The gateway's application state: one frozen object its lifespan builds and its routes read.

:func:`gateway_state` opens every I/O client the gateway holds, in the order each needs the
others, and closes them in reverse. Routes never read the state directly: ``deps.py`` turns it
into ``Annotated`` dependencies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from services.core.audit import AuditLog, audit_log
from services.core.audit.watch import ChainWatch
from services.core.config import GatewaySettings
from services.core.http.state import CoreState
from services.core.kafka.producer_pool import ProducerPool
from services.core.tasks import repeating
from services.gateway.agreements.expiry import agreement_sweeper
from services.gateway.backends import Backends, open_backends
from services.gateway.oauth.resources import OAuthState, oauth_resources
from services.gateway.publish.batch import PublishState, publish_resources
from services.gateway.registry_proxy.proxy import proxy_client
from services.gateway.subscriptions.lag import subscription_lag
from services.gateway.subscriptions.push import ConnectConfigs
from services.gateway.subscriptions.subscribe import Subscribe, subscribe_resources


@dataclass(frozen=True)
class GatewayState:
    """Everything the gateway holds for its lifetime."""

    # the audit trail every act of sharing (and every token) is recorded in
    audit: AuditLog
    # keys, authenticator (what every protected route uses) and the OAuth2 endpoints
    oauth: OAuthState
    # the control plane, the registry client and Kafka, as every room uses them
    backends: Backends
    # the transactional producers and contract caches of the publish path
    publish: PublishState
    # pooled subscription consumers and the contracts delivered records name
    subscribe: Subscribe
    # connect's configs topic, where push subscriptions become sink connectors
    connect_configs: ConnectConfigs
    # the streaming client of the /registry proxy
    registry_proxy: httpx.AsyncClient

    def request_state(self) -> Mapping[str, Any]:
        """What the lifespan hands Starlette: the gateway's state, plus the two pieces core's
        own dependencies (``Audit``, ``Authenticated``, ``/readyz``) read in every service."""
        return {"gateway": self, "audit": self.audit, "authenticator": self.oauth.authenticator}


@asynccontextmanager
async def gateway_state(core: CoreState, settings: GatewaySettings) -> AsyncIterator[GatewayState]:
    async with AsyncExitStack() as stack:
        trail = await stack.enter_async_context(audit_log(core))
        # the chain checked in the background: a broken one is an alert (ndxp_audit_chain_intact)
        chain = ChainWatch(core.sessions)
        await stack.enter_async_context(
            repeating("the check of the audit chain", settings.audit_verify_interval, chain.check)
        )
        oauth = await stack.enter_async_context(oauth_resources(core, trail))
        backends = await stack.enter_async_context(open_backends(core, settings))
        # agreements past their end date written down as expired, every few seconds
        await stack.enter_async_context(agreement_sweeper(backends, trail))
        # one pool of transactional producers (each started on first use): publish batches and
        # connect's configs are both written with it; the publish path closes it last
        producers = ProducerPool(
            backends.kafka,
            backends.bootstrap,
            settings.publish_producers,
            transaction_timeout_ms=int(2 * settings.publish_timeout * 1000),
        )
        publish = await stack.enter_async_context(
            publish_resources(core, settings, backends, producers)
        )
        subscribe = await stack.enter_async_context(subscribe_resources(core, settings, backends))
        # every subscription's lag, every NDXP_KAFKA_LAG_INTERVAL s, by the replica that leads
        await stack.enter_async_context(subscription_lag(backends))
        connect_configs = ConnectConfigs(
            producers,
            backends.kafka,
            backends.bootstrap,
            settings.connect_configs_topic,
            settings.publish_timeout,
            settings.push.policy(),
        )
        proxy = await stack.enter_async_context(proxy_client(settings.registry_url))
        yield GatewayState(trail, oauth, backends, publish, subscribe, connect_configs, proxy)
