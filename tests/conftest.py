# Shared fixtures live in tests/fixtures/; importing them here makes them visible to every test.
from tests.fixtures.catalog import *  # noqa: F403
from tests.fixtures.gateway import *  # noqa: F403
from tests.fixtures.hub import *  # noqa: F403
from tests.fixtures.kafka import *  # noqa: F403
from tests.fixtures.otlp import *  # noqa: F403
from tests.fixtures.postgres import *  # noqa: F403
from tests.fixtures.registry import *  # noqa: F403
