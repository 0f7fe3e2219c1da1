"""The catalogue: datasets, their contracts and metadata, and who may see them.

What lives here:

- ``datasets_router.py`` ``/v1/datasets``: create a dataset, evolve its contract, edit metadata
- ``datasets.py``        that logic: registry subject, Kafka topic and catalogue row, each undone
                         if a later step fails
- ``router.py``          ``/v1/catalog``: search, and one dataset's full entry
- ``entries.py``         the visibility rule (:func:`~.entries.visible_to`, and only there),
                         search, entries with their contract and volume, ``load_dataset``
- ``metadata.py``        DCAT-AP style metadata models, ``topic_of``/``subject_of``, documents
- ``retention.py``       retention as milliseconds or an ISO 8601 duration

Flows in: the caller's ``Principal`` and bodies; ``Backends`` (control plane, registry, Kafka
admin and offsets) from ``deps.py``. Flows out: rows of ``datasets``, a topic
``<agency>.<dataset>.v<major>`` per major version, the contract under ``<topic>-value`` in the
registry, ``dataset.create``/``contract.evolve`` audit records.

May import: ``services.core``, ``gateway.backends``, ``identity.agencies`` (its errors); only the
routers import ``gateway.deps``. Agreements and publish read datasets through ``entries`` and
``metadata``.
"""
