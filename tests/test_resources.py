"""pause/unpause and update without a cgroup to write: one clear line, nothing recorded. No root needed."""

from __future__ import annotations

import pytest

from minidock.containers import resources
from minidock.errors import APIError, Conflict
from minidock.runtime import mode


class Records:
    """A container's records as ``Containers`` hands them out, in memory."""

    def __init__(self, status: str = "running", paused: bool = False):
        self.status, self.paused, self.written = status, paused, []

    def state(self, cid):
        return {"Status": self.status, "Paused": self.paused}

    def active(self, cid):
        if self.status != "running":
            raise Conflict(f"Container {cid} is not running")

    def config(self, cid):
        return {"Driver": "overlay"}

    def write_state(self, cid, **changes):
        self.written.append(changes)


@pytest.mark.parametrize("run_mode", ["rootless", "chroot-emulated"])
def test_without_root_pause_and_update_say_why(monkeypatch, run_mode):
    monkeypatch.setattr(mode, "detect", lambda: (run_mode, "a test says so"))
    records = Records()
    with pytest.raises(APIError, match=f"pause needs the container's cgroup, which {run_mode} mode here does not"):
        resources.pause(records, "c")
    with pytest.raises(APIError, match=f"update needs the container's cgroup, which {run_mode} mode"):
        resources.update(records, "c", memory=64 << 20)
    assert records.written == []


def test_pause_and_unpause_refuse_as_docker():
    with pytest.raises(Conflict, match="Container c is not running"):
        resources.pause(Records(status="exited"), "c")
    with pytest.raises(Conflict, match="Container c is already paused"):
        resources.pause(Records(paused=True), "c")
    with pytest.raises(Conflict, match="Container c is not paused"):
        resources.unpause(Records(), "c")


def test_an_update_of_nothing_writes_nothing():
    records = Records(status="exited")
    resources.update(records, "c")
    assert records.written == []
