"""Does this Python's environment hold exactly the versions a hashed lock pins?

    <venv>/bin/python scripts/check_lock.py locks/labelstudio.lock

Prints one line per package that is missing or at another version (exit 1), or
``matches <lock> (N packages)`` (exit 0). Lines whose environment marker does not apply
here (``; sys_platform == 'win32'``) are skipped. Runs with the standard library and
the ``packaging`` that pip vendors, so it works in a bare virtualenv.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

try:
    from packaging.markers import Marker
except ImportError:  # a venv with pip only
    from pip._vendor.packaging.markers import Marker

#: ``name[extras]==version ; marker \`` (a requirement line of a hashed lock)
PIN = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$"
)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    wanted = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate():
            continue
        wanted[normalise(name)] = version
    return wanted


def mismatches(lock: Path) -> list[str]:
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}
    problems = []
    for name, version in sorted(pins(lock).items()):
        have = installed.get(name)
        if have != version:
            problems.append(f"{name}: {'missing' if have is None else have} (lock: {version})")
    return problems


def main() -> int:
    lock = Path(sys.argv[1])
    problems = mismatches(lock)
    for line in problems:
        print(line)
    if not problems:
        print(f"matches {lock} ({len(pins(lock))} packages)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
