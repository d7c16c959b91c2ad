"""What every benchmark here shares: finding leftover mounts, and the verdict lines."""

from __future__ import annotations

from pathlib import Path


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo), in mount order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(path) or point.startswith(str(path) + "/"):
            found.append(point)
    return found


def verdict(targets: list[tuple[str, bool]]) -> bool:
    """Print each target as MET or NOT MET; whether all were met."""
    print()
    for text, met in targets:
        print(f"  {'MET    ' if met else 'NOT MET'}  {text}")
    return all(met for _, met in targets)
