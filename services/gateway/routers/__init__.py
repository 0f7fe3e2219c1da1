"""The routers of the two rooms still being moved: ``publish.py`` (``POST
/v1/datasets/{dataset}/events``, into ``gateway/publish/``) and ``subscriptions.py``
(``/v1/subscriptions``, into ``gateway/subscriptions/``). Every other room keeps its router
with its logic."""
