"""A wheel file as the wheelhouse reads it (name, version, requirements), and the wheelhouse's one-line error."""
from __future__ import annotations

import email.parser
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

MANIFEST = 'wheelhouse.json'  # what a wheelhouse folder holds, for whom, and what was left out


class WheelhouseError(Exception):
    """A wheelhouse cannot be built or cannot serve an install; the message is one line for the user."""


@dataclass
class Wheel:
    """One wheel file: its distribution's canonical name, version, path and declared requirements."""

    name: str
    version: Version
    path: Path
    requires: list[Requirement] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Wheel:
        name, version, _, _ = parse_wheel_filename(path.name)
        with zipfile.ZipFile(path) as archive:
            meta = next(n for n in archive.namelist() if n.count('/') == 1 and n.endswith('.dist-info/METADATA'))
            message = email.parser.Parser().parsestr(archive.read(meta).decode('utf-8'))
        requires = [Requirement(r) for r in message.get_all('Requires-Dist', [])]
        return cls(canonicalize_name(name), version, path, requires)


def applies(requirement: Requirement, environment: dict[str, str]) -> bool:
    """Whether ``requirement`` holds in ``environment`` (marker variables); requirements of extras never do."""
    return requirement.marker is None or requirement.marker.evaluate({**environment, 'extra': ''})
