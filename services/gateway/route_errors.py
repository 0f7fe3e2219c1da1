"""The errors each gateway route's logic can raise, grouped as the routers declare them
(``responses=raises(*PUBLISH)``) for the OpenAPI document; see :mod:`services.core.http.openapi`.

Authentication (401, 429, 503), scope dependencies (403) and request validation (400, 422) are
found by the document itself: these lists name what the logic behind a route adds.
"""

from __future__ import annotations

from typing import Final

from services.core.auth.errors import InsufficientScope
from services.core.avro.codec import BatchInvalid, PayloadInvalid
from services.core.avro.contract_cache import NoContract, SchemaVersionNotFound
from services.core.avro.projection import UnknownFields
from services.core.avro.registry_client import IncompatibleContract, InvalidContract
from services.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
)
from services.core.events.body import BodyTooLarge, InvalidBody, TooManyRecords
from services.core.events.transactions import TopicMissing
from services.core.http.errors import ErrorKind
from services.core.http.openapi import Declared
from services.core.sharing.agreements import AgreementInactive
from services.core.sharing.delivery import ReaderSchemaMissing
from services.gateway.agreements.terms import (
    AgreementNotFound,
    FieldsNotRequested,
    InvalidTerm,
    InvalidTransition,
    NoFields,
    SelfAgreement,
)
from services.gateway.agreements.workflow import ContractMissing
from services.gateway.catalog.datasets import DatasetExists, TopicExists
from services.gateway.catalog.entries import DatasetNotFound
from services.gateway.identity.agencies import (
    AgencyDisabled,
    AgencyExists,
    AgencyNotFound,
    ClientNotFound,
)
from services.gateway.identity.last_admin import LastAdmin
from services.gateway.publish.idempotency import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from services.gateway.subscriptions.cursor import InvalidCursor, StaleCursor
from services.gateway.subscriptions.lifecycle import (
    OffsetOutOfRange,
    SubscriptionExists,
    SubscriptionNotFound,
)
from services.gateway.subscriptions.limits import TooManyPulls, TooManyStreams, TooManySubscriptions
from services.gateway.subscriptions.push import PushDestination, PushSubscription

Errors = tuple[Declared, ...]

# --- agencies and clients (admin) -----------------------------------------------------------------
AGENCY: Final[Errors] = (AgencyNotFound,)
DISABLE_AGENCY: Final[Errors] = (AgencyNotFound, LastAdmin)
NEW_AGENCY: Final[Errors] = (AgencyExists,)
NEW_CLIENT: Final[Errors] = (AgencyNotFound, AgencyDisabled, Conflict)
CLIENT: Final[Errors] = (ClientNotFound,)
DISABLE_CLIENT: Final[Errors] = (ClientNotFound, LastAdmin)

# --- catalogue and datasets -----------------------------------------------------------------------
CATALOG: Final[Errors] = (InsufficientScope,)
CATALOG_ENTRY: Final[Errors] = (InsufficientScope, DatasetNotFound)
# the contract goes to the registry with the caller's token: refused, or the registry out of reach
_CONTRACT: Final[Errors] = (InvalidContract, Unavailable)
NEW_DATASET: Final[Errors] = (
    InsufficientScope, Forbidden, AgencyNotFound, AgencyDisabled, DatasetExists, TopicExists,
    *_CONTRACT,
)  # fmt: skip
EVOLVE_CONTRACT: Final[Errors] = (
    InsufficientScope, DatasetNotFound, Forbidden, IncompatibleContract, *_CONTRACT,
)  # fmt: skip
EDIT_DATASET: Final[Errors] = (InsufficientScope, DatasetNotFound, Forbidden)

# --- agreements -----------------------------------------------------------------------------------
AGREEMENTS: Final[Errors] = (InsufficientScope,)
AGREEMENT: Final[Errors] = (InsufficientScope, AgreementNotFound)
_TERMS: Final[Errors] = (InvalidTerm, UnknownFields, ContractMissing, Unavailable)
NEW_AGREEMENT: Final[Errors] = (
    InsufficientScope, DatasetNotFound, SelfAgreement, NoFields, *_TERMS,
)  # fmt: skip
DECISION: Final[Errors] = (AgreementNotFound, Forbidden, InvalidTransition)
APPROVAL: Final[Errors] = (
    *DECISION, InsufficientScope, DatasetNotFound, FieldsNotRequested, *_TERMS,
)  # fmt: skip

# --- publish --------------------------------------------------------------------------------------
PUBLISH: Final[Errors] = (
    DatasetNotFound, Forbidden, BadRequest, InvalidBody, InvalidIdempotencyKey,
    UnsupportedMediaType, BodyTooLarge, TooManyRecords, PayloadTooLarge, BatchInvalid,
    PayloadInvalid, IdempotencyKeyReused, SchemaVersionNotFound, IdempotencyKeyInProgress,
    TopicMissing, NoContract, Unavailable,
)  # fmt: skip

# --- subscriptions --------------------------------------------------------------------------------
SUBSCRIPTION: Final[Errors] = (SubscriptionNotFound, Unavailable)
_DELIVERY: Final[Errors] = (
    *SUBSCRIPTION, AgreementInactive, PushSubscription, ReaderSchemaMissing, NotFound,
)  # fmt: skip
NEW_SUBSCRIPTION: Final[Errors] = (
    AgreementInactive, ReaderSchemaMissing, NotFound, SubscriptionExists, OffsetOutOfRange,
    PushDestination, TooManySubscriptions, Unavailable,
)  # fmt: skip
RESET: Final[Errors] = (*_DELIVERY, OffsetOutOfRange)
PULL: Final[Errors] = (*_DELIVERY, TooManyPulls)
ACK: Final[Errors] = (*SUBSCRIPTION, PushSubscription, InvalidCursor, StaleCursor)
STREAM: Final[Errors] = (*_DELIVERY, InvalidCursor, TooManyStreams)

# --- the OAuth2 endpoints: RFC 6749's error body, not problem+json ----------------
_OAUTH_REQUEST: Final = (
    ErrorKind(400, "invalid_request", "The request is missing or repeats a parameter"),
    ErrorKind(400, "insecure_transport", "Plain HTTP to a public issuer"),
    ErrorKind(401, "invalid_client", "Client authentication failed"),
)
TOKEN: Final = (
    *_OAUTH_REQUEST,
    ErrorKind(400, "invalid_grant", "The grant is invalid"),
    ErrorKind(400, "unauthorized_client", "The client may not use this grant type"),
    ErrorKind(400, "unsupported_grant_type", "Only client_credentials is supported"),
    ErrorKind(400, "invalid_scope", "A requested scope is not the client's"),
)
INTROSPECT: Final = _OAUTH_REQUEST
REVOKE: Final = (
    *_OAUTH_REQUEST,
    ErrorKind(400, "unsupported_token_type", "The token type hint is not supported"),
)
