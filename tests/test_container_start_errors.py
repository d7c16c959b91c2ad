"""A container that cannot start says why, after pivot_root too: never a silent exit 0.

The container's first process reports a failure with its traceback (``shim._print_exc``), importing
``traceback`` only then; once it has pivoted into the image's root, the host's standard library is out of
reach, and the ImportError used to escape the report: ``run`` then ended 0 with no output at all (a user
the image lacks; in a pod whose /proc is masked, the refused mount of a new /proc).
"""

from __future__ import annotations

import pytest

from conftest import run_cli


@pytest.mark.root
def test_a_user_the_image_lacks_is_an_error_not_a_silent_success(busybox):
    proc = run_cli("run", "--rm", "--network", "none", "-u", "nosuchuser", "busybox", "sh", "-c", "echo ran; exit 3")
    assert proc.returncode == 125, (proc.returncode, proc.stderr)
    assert b"unable to find user nosuchuser: no matching entries in passwd file" in proc.stderr
    assert b"ran" not in proc.stdout
