"""Turn Koku's Pipfile.lock into a pip requirements file (exact versions, hashes dropped).

Why not `pipenv requirements`: pipenv itself is not in Koku's lock nor on this machine, and the lock's
JSON is simple: each entry of "default" has a pinned "version" ("==x.y") and optional "markers".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def requirements(lock_path: Path, *, with_develop: bool = False) -> list[str]:
    """Return one requirement line per locked package of the lock's default (and optionally develop) section."""
    lock = json.loads(lock_path.read_text())
    sections = ["default"] + (["develop"] if with_develop else [])
    lines: list[str] = []
    for section in sections:
        for name, entry in sorted(lock.get(section, {}).items()):
            version = entry.get("version")
            if not version:
                raise SystemExit(f"{lock_path}: package {name!r} of section {section!r} has no pinned version")
            extras = entry.get("extras")
            spec = f"{name}[{','.join(extras)}]{version}" if extras else f"{name}{version}"
            markers = entry.get("markers")
            lines.append(f"{spec} ; {markers}" if markers else spec)
    return lines


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: pipfile_lock_to_requirements.py Pipfile.lock [--with-develop]", file=sys.stderr)
        return 2
    print("\n".join(requirements(Path(argv[1]), with_develop=len(argv) == 3 and argv[2] == "--with-develop")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
