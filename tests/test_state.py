"""A container's state, reconciled with its shim: an exit the shim recorded just before it ended is
never taken for a shim that died unheard (which reads as exit code 255)."""

from __future__ import annotations

import json

import pytest

import minidock
from minidock.containers import container as ctr


def running(tmp_path):
    """A store with one container whose state says running under shim 4241: (engine, ID)."""
    c = minidock.Client(tmp_path / "store").containers.containers
    cid = "ab" * 32
    c.dir(cid).mkdir(parents=True)
    (c.dir(cid) / "state.json").write_text(json.dumps({"Status": "running", "ExitCode": 0, "Pid": 4242,
                                                       "ShimPid": 4241, "ShimStart": 1}))
    return c, cid


@pytest.mark.parametrize("first_looks", [[], [True]], ids=["ends before our first look", "ends after it"])
def test_an_exit_recorded_while_we_looked_is_not_a_dead_shim(tmp_path, monkeypatch, first_looks):
    c, cid = running(tmp_path)
    d = c.dir(cid)
    looks = list(first_looks)

    def shim_alive(state):
        """Alive for the first looks; then the shim writes its exit (code 3) and ends."""
        if looks:
            return looks.pop(0)
        (d / "state.json").write_text(json.dumps({"Status": "exited", "ExitCode": 3, "Pid": 0,
                                                  "ShimPid": 4241, "ShimStart": 1}))
        return False

    monkeypatch.setattr(ctr, "shim_alive", shim_alive)
    state = c.state(cid)
    assert state["ExitCode"] != 255 and not state.get("Error"), state
    assert c.state(cid)["ExitCode"] == 3


def test_a_shim_that_died_unheard_reads_as_gone(tmp_path, monkeypatch):
    c, cid = running(tmp_path)
    monkeypatch.setattr(ctr, "shim_alive", lambda state: False)
    monkeypatch.setattr("minidock.runtime.shim.release_resources", lambda bundle: None)
    state = c.state(cid)
    assert (state["Status"], state["ExitCode"]) == ("exited", 255) and "shim is gone" in state["Error"]
