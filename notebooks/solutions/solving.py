"""What every solution shares: the chapter's store, a shell line run as a `!` cell runs it, the ✓ it must get.

The solutions run as plain scripts (``python notebooks/solutions/01-images.py``),
with ``minidock`` on PATH (``MINIDOCK_COURSE_LANG=zh``: the checkers speak Chinese); ``course.start`` points ``MINIDOCK_ROOT`` at the
chapter's store, so the commands here and the Python ``client`` share it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

from minidock import course


@contextmanager
def chapter(name: str):
    """The chapter's fresh store (``course.start``), in a scratch working directory; both removed after."""
    client = course.start(name)
    here, scratch = os.getcwd(), tempfile.mkdtemp(prefix=f"minidock-{name[:2]}-")
    os.chdir(scratch)
    try:
        yield client
    finally:
        os.chdir(here)
        shutil.rmtree(scratch)
        course.finish(client)


def sh(command: str) -> str:
    """Run ``command`` with bash; its standard output, or an error that shows what it printed."""
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {command}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def right(verdict) -> None:
    """Print a checker's line, tagged with its exercise; stop unless it says right."""
    print(f"[{verdict.exercise}] {verdict}")
    if not verdict.right:
        raise SystemExit(f"expected ✓ right, got: {verdict}")


def not_yet(verdict) -> None:
    """The same for a state that is not the exercise done (before it, or a wrong attempt): stop unless
    the checker says not yet.  Each exercise's solution shows two of these before its ✓ (the tests count)."""
    print(f"[{verdict.exercise}] {verdict}")
    if verdict.right:
        raise SystemExit(f"expected ✗ not yet, got: {verdict}")
