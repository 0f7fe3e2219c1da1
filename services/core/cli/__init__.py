"""What every ``ndxp`` command shares, whichever service it belongs to.

- :mod:`.errors`: expected failures (a service down, a refusal, a missing file, a bad setting)
  told in one line with an exit status; anything else is a bug and keeps its traceback.
- :mod:`.credentials`: the caller's credentials, the same way for every command that calls a
  service (``--token``, ``--client-id/--client-secret``, ``NDXP_*``, the data dir's demo client).
- :mod:`.http`: the HTTP client of such commands, which turns a 401/403 or an unreachable server
  into one line that says what was tried.
- :mod:`.control_plane`: the existing, migrated control-plane database of commands that work on
  it directly (only ``ndxp db migrate`` creates one).
- :mod:`.kafka`: the Kafka cluster a command or a lone service talks to: ``NDXP_KAFKA_BOOTSTRAP``,
  or the broker ``ndxp up`` runs for the data dir.
"""
