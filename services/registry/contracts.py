"""Contracts as code: the ``schemas/`` tree of a repository, found and linted offline.

Layout: ``schemas/<agency>/<dataset>.avsc`` is major version 1 of dataset ``<agency>.<dataset>``;
``schemas/<agency>/<dataset>.v<major>.avsc`` is major version ``<major>`` (a new major version is
a new topic, so it is a new file; minor, compatible changes edit the file in place). The file's
subject is ``<agency>.<dataset>.v<major>-value`` and its namespace must be ``vn.gov.<agency>``
(see :func:`services.registry.lint.expected_namespace`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.core.kafka.topics import AGENCY_RE, DATASET_RE, InvalidName, dataset_topic
from services.registry.lint import Finding, expected_namespace, lint_text

SCHEMAS_DIR = "schemas"
SUFFIX = ".avsc"

_FILE_NAME = re.compile(rf"(?P<dataset>{DATASET_RE})(?:\.v(?P<major>[1-9]\d*))?\.avsc")
_AGENCY = re.compile(AGENCY_RE)


@dataclass(frozen=True)
class Contract:
    """One contract file: the dataset it belongs to, its major version, and its text."""

    agency: str
    dataset: str
    path: Path
    text: str
    major: int = 1

    @property
    def topic(self) -> str:
        """The dataset topic of this major version: ``<agency>.<dataset>.v<major>``."""
        return dataset_topic(self.agency, self.dataset, self.major)

    @property
    def subject(self) -> str:
        """The registry subject (TopicNameStrategy): ``<agency>.<dataset>.v<major>-value``."""
        return f"{self.topic}-value"

    @property
    def namespace(self) -> str:
        """The namespace the contract's top-level record must use: ``vn.gov.<agency>``."""
        return expected_namespace(self.agency)

    def lint(self) -> list[Finding]:
        """The linter's findings for this contract (namespace checked against the agency)."""
        return lint_text(self.text, namespace=self.namespace)


def parse_contract_path(path: Path) -> tuple[str, str, int]:
    """``(agency, dataset, major)`` named by ``.../<agency>/<dataset>[.v<major>].avsc``.

    Raises :class:`~services.core.kafka.topics.InvalidName` for any other path.
    """
    match = _FILE_NAME.fullmatch(path.name)
    agency = path.parent.name
    if match is None or _AGENCY.fullmatch(agency) is None:
        raise InvalidName(
            f"{path}: contract files are named <agency>/<dataset>.avsc or "
            "<agency>/<dataset>.v<major>.avsc (lower-case names of a-z, 0-9 and '-')"
        )
    major = int(match["major"] or 1)
    dataset_topic(agency, match["dataset"], major)  # refuses reserved agency names
    return agency, match["dataset"], major


def discover(root: Path) -> list[Contract]:
    """Every contract under ``root/schemas`` (or under ``root`` itself if it has no ``schemas``).

    Sorted by subject. A misnamed ``.avsc`` file, or two files for the same subject
    (``x.avsc`` and ``x.v1.avsc``), raise :class:`~services.core.kafka.topics.InvalidName`:
    a contract must never be skipped silently.
    """
    base = root / SCHEMAS_DIR if (root / SCHEMAS_DIR).is_dir() else root
    contracts: dict[str, Contract] = {}
    for path in sorted(base.glob(f"*/*{SUFFIX}")):
        agency, dataset, major = parse_contract_path(path)
        contract = Contract(agency, dataset, path, path.read_text(encoding="utf-8"), major)
        if (other := contracts.get(contract.subject)) is not None:
            raise InvalidName(f"{other.path} and {path} are both {contract.subject}")
        contracts[contract.subject] = contract
    return [contracts[subject] for subject in sorted(contracts)]


def lint_files(paths: Sequence[Path]) -> dict[Path, list[Finding]]:
    """Lint each file; the namespace is checked when the file lives in ``schemas/<agency>/``.

    A file under ``schemas/`` whose path breaks the naming convention gets a ``location``
    finding; an unreadable file an ``invalid`` one.
    """
    return {path: _lint_file(path) for path in paths}


def _lint_file(path: Path) -> list[Finding]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding("invalid", "", f"cannot read {path}: {exc}")]
    if path.parent.parent.name != SCHEMAS_DIR:
        return lint_text(text)
    try:
        agency, _, _ = parse_contract_path(path)
    except InvalidName as exc:
        return [Finding("location", "", exc.message), *lint_text(text)]
    return lint_text(text, namespace=expected_namespace(agency))
