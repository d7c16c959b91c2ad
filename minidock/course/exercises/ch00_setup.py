"""Chapter 00's exercises (setup): one checker each."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ...api.client import Client
from .checking import NotYet, exercise, names, need, same_digest


@exercise("00-setup", 1)
def run_modes(client: Client, run_mode=None, rootless_lacks=None) -> str:
    """This machine's run mode, and what the rootless mode does not isolate or limit."""
    from ...api.system import ISOLATES
    need(run_mode=run_mode, rootless_lacks=rootless_lacks)
    mode = client.info()["RunMode"]
    if run_mode != mode:
        raise NotYet(f"run_mode={run_mode!r} is not this machine's: the first line of `minidock info` says it")
    lacks = {feature for feature, yes in ISOLATES["rootless"].items() if not yes}
    if names(rootless_lacks) != lacks and set(rootless_lacks) != lacks:
        raise NotYet(f"rootless_lacks should list the {len(lacks)} rows that say NO in the rootless column "
                     "of the table (`MINIDOCK_MODE=rootless minidock info` prints them too)")
    return f"{mode} here; rootless mode has no {', '.join(sorted(lacks))}"


@exercise("00-setup", 2)
def another_clock(client: Client, epoch=None, image_id=None) -> str:
    """The base image made at another SOURCE_DATE_EPOCH has another ID, and this one."""
    need(epoch=epoch, image_id=image_id)
    if int(epoch) == int(os.environ.get("SOURCE_DATE_EPOCH", "0")):
        raise NotYet(f"{epoch} is the course's own clock: set SOURCE_DATE_EPOCH to another time")
    with tempfile.TemporaryDirectory() as scratch:
        saved = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = str(int(epoch))
        try:
            expected = Client(Path(scratch) / "store").images.bootstrap().id
        finally:
            os.environ.pop("SOURCE_DATE_EPOCH") if saved is None else os.environ.update(SOURCE_DATE_EPOCH=saved)
    if not same_digest(image_id, expected):
        raise NotYet(f"busybox made at {epoch} does not have the ID {image_id}: print it with "
                     "`minidock inspect --format '{{.Id}}' busybox` in the same %%bash cell")
    return f"another clock, another config, another ID ({expected[7:19]} instead of this chapter's)"
