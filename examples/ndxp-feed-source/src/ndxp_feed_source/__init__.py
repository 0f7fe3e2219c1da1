"""``feed-source``: an ndxp source connector for an agency's RSS 2.0 or Atom feed.

- :mod:`.config`: the plugin's settings (a pydantic model: what ``GET /connector-plugins`` shows).
- :mod:`.feed`: reading a feed document into items, safely (pure functions, no I/O).
- :mod:`.source`: the connector the worker runs: fetch, parse, skip what was sent, give a batch.

Installed, it is found by the worker through the ``ndxp.connectors`` entry point in this
package's ``pyproject.toml``; ``docs/connectors.md`` of ndxp walks through it.
"""
