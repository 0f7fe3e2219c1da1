"""ndxp: an event-driven national data exchange hub (registry, gateway, connect)."""

__version__ = "0.1.0"
