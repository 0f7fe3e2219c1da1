"""``python -m services.hub.dashboards`` (``make dashboards``): write every board's JSON into
``deploy/monitoring/grafana/dashboards/``, or with ``--check`` only say which files differ from
what the boards generate (exit 1), as the unit test does."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from services.core.local_kafka import DEPLOY
from services.hub.dashboards.boards import BOARDS
from services.hub.dashboards.render import dump

GRAFANA_DIR: Final = DEPLOY / "monitoring" / "grafana"
DASHBOARDS_DIR: Final = GRAFANA_DIR / "dashboards"


def generated() -> dict[Path, str]:
    """Each board's file and the text it should hold."""
    return {DASHBOARDS_DIR / f"{board.uid}.json": dump(board) for board in BOARDS}


def stale() -> list[Path]:
    """The files that differ from what the boards generate, are missing, or belong to no board."""
    wanted = generated()
    found = set(DASHBOARDS_DIR.glob("*.json"))
    differ = [
        path
        for path, text in wanted.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    return sorted(differ + [path for path in found if path not in wanted])


def write() -> list[Path]:
    """Write every board, remove files of boards that are gone; the paths changed."""
    changed = stale()
    wanted = generated()
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for path in changed:
        if path in wanted:
            path.write_text(wanted[path], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.hub.dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    changed = stale() if args.check else write()
    for path in changed:
        sys.stdout.write(
            f"{'stale' if args.check else 'wrote'}: {path.relative_to(DEPLOY.parent)}\n"
        )
    return 1 if args.check and changed else 0
