"""``ndxp connect <command>``: operate connectors through a worker's REST API, and deploy them
from YAML files kept with the contracts (connectors as code).

A file holds one connector (``name`` and ``config``) or several (``connectors: [...]``), in one or
more YAML documents; ``ndxp connect apply`` creates or replaces each (``PUT
/connectors/<name>/config``, which is idempotent), so applying the same files again changes
nothing. Secrets belong in the workers' environment, referenced as ``${env:NAME}``; ``export``
writes what the API shows, secrets masked.

The worker is ``--url`` (``NDXP_CONNECT_URL``, default ``http://127.0.0.1:8083``); the caller's
credentials are given as to every command that calls a service
(:mod:`services.core.cli.credentials`: ``--token``, ``--client-id/--client-secret``, ``NDXP_*``,
else the data dir's demo client); writes need the ``admin`` scope.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from services.core.cli import credentials
from services.core.cli.errors import CommandError
from services.core.cli.http import ServiceClient, answer_detail
from services.core.config import ConnectSettings

ACTIONS: Final = ("pause", "resume", "stop", "restart")
HTTP_OK: Final = 300


class CommandFailed(CommandError):
    """The worker refused, or a file is not a connector definition; the message says why."""


def add_parsers(connect: argparse.ArgumentParser) -> None:
    """``ndxp connect`` runs a worker; ``ndxp connect <command>`` operates one."""
    commands = connect.add_subparsers(dest="connect_command")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the worker (NDXP_CONNECT_URL, else connect's own port)")
    credentials.add_options(common)
    apply = commands.add_parser("apply", parents=[common], help="create or update from YAML")
    apply.add_argument("files", nargs="+", type=Path)
    commands.add_parser("list", parents=[common], help="connectors and their states")
    commands.add_parser("export", parents=[common], help="every connector as YAML (masked)")
    for name in ("status", "delete", "offsets", *ACTIONS):
        cmd = commands.add_parser(name, parents=[common], help=f"{name} a connector")
        cmd.add_argument("name")


def _url(args: argparse.Namespace, settings: ConnectSettings) -> str:
    return args.url or os.environ.get("NDXP_CONNECT_URL") or f"http://127.0.0.1:{settings.port}"


def definitions(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``(name, config)`` a YAML file defines."""
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise CommandFailed(f"{path}: not YAML: {exc}") from exc
    for document in documents:
        if document is None:
            continue
        entries = document.get("connectors") if isinstance(document, Mapping) else None
        for entry in entries if isinstance(entries, list) else [document]:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            config = entry.get("config") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not isinstance(config, Mapping):
                raise CommandFailed(f"{path}: each connector needs a 'name' and a 'config' map")
            yield name, dict(config)


def run(args: argparse.Namespace) -> int:
    """Run ``ndxp connect <command>``; prints the outcome. A refusal raises
    :class:`~services.core.cli.errors.CommandError` (exit status 1)."""
    settings = ConnectSettings()
    caller = credentials.resolve(args, settings.data_dir, os.environ)
    with ServiceClient(_url(args, settings), caller) as http:
        for line in _execute(args, http):
            print(line)  # noqa: T201 - the command's output
    return 0


def _execute(args: argparse.Namespace, http: httpx.Client) -> Iterator[str]:
    command = args.connect_command
    if command == "apply":
        defined = [each for path in args.files for each in definitions(path)]
        for name, config in defined:
            response = _check(http.put(f"/connectors/{name}/config", json=config))
            yield f"{name}: {'created' if response.status_code == 201 else 'updated'}"  # noqa: PLR2004
    elif command == "list":
        for name in _check(http.get("/connectors")).json():
            state = _check(http.get(f"/connectors/{name}/status")).json()["connector"]
            yield f"{name}\t{state['state']}\t{state.get('worker_id') or '-'}"
    elif command == "export":
        names = _check(http.get("/connectors")).json()
        connectors = [
            {"name": name, "config": _check(http.get(f"/connectors/{name}/config")).json()}
            for name in names
        ]
        yield yaml.safe_dump({"connectors": connectors}, allow_unicode=True, sort_keys=False)
    elif command in ("status", "offsets"):
        body = _check(http.get(f"/connectors/{args.name}/{command}")).json()
        yield json.dumps(body, indent=2, ensure_ascii=False)
    elif command == "delete":
        _check(http.delete(f"/connectors/{args.name}"))
        yield f"{args.name}: deleted"
    else:
        method = "POST" if command == "restart" else "PUT"
        _check(http.request(method, f"/connectors/{args.name}/{command}"))
        yield f"{args.name}: {command} requested"


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= HTTP_OK:
        raise CommandFailed(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {answer_detail(response)}"
        )
    return response
