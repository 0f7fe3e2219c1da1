"""``ndxp audit verify [--kafka]``: is the audit trail intact?

It reads the control plane as the services left it, and with ``--kafka`` the audit topic of
``NDXP_KAFKA_BOOTSTRAP``'s cluster, or of the broker ``ndxp up`` runs for the data dir.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from services.core.audit.check import verify_database, verify_topic
from services.core.cli.control_plane import control_plane
from services.core.cli.kafka import kafka_bootstrap
from services.core.config import ServiceSettings
from services.core.db.engine import session_factory
from services.core.kafka.topics import AUDIT_TOPIC

COMMANDS: Final = frozenset({"audit"})


def add_parsers(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the hash-chained audit trail")
    audit_cmds = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_cmds.add_parser("verify", help="check every record's hash and link")
    verify.add_argument(
        "--kafka", action="store_true", help=f"also compare the index with the {AUDIT_TOPIC} topic"
    )


async def run(args: argparse.Namespace) -> int:
    """Exit 0 when the chain is intact (and, with ``--kafka``, the topic matches), else 1."""
    settings = ServiceSettings()
    kafka = settings.kafka
    if args.kafka:  # before reading the index: a missing broker is told at once
        kafka = kafka.model_copy(update={"bootstrap": await kafka_bootstrap(settings)})
    async with control_plane(settings) as engine:
        sessions = session_factory(engine)
        report = await verify_database(sessions)
        problems, pending = list(report.problems), 0
        if args.kafka:
            topic = await verify_topic(sessions, kafka, AUDIT_TOPIC)
            problems += topic.problems
            pending = topic.pending
    for problem in problems:
        print(f"audit: {problem}")  # noqa: T201 - the command's output
    if problems:
        print(f"audit trail BROKEN: {len(problems)} problem(s) in {report.checked} records")  # noqa: T201
        return 1
    print(f"audit trail intact: {report.checked} records, head {report.last_hash}")  # noqa: T201
    if pending:
        print(f"audit: {pending} record(s) pending: in the index, not yet on {AUDIT_TOPIC}")  # noqa: T201
    return 0
