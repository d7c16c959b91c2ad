"""The widgets: what each shows, that it changes when moved or clicked, its text twin, and life without ipywidgets.

The slider runs over a hand-made image (no root needed); the dashboard starts
and stops real containers and the explorer looks into one (root).
"""

from __future__ import annotations

import html
import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archives import docker_archive, entry, tar_of
from conftest import root_fixture
from minidock.course.viz import widgets
from minidock.course.viz.namespaces import TYPES

LAYERS = [
    tar_of(entry("etc", kind="dir"), entry("etc/issue", b"v1\n"), entry("etc/demo.conf", b"colour=blue\n"),
           entry("etc/skel", kind="dir"), entry("etc/skel/.profile", b"EDITOR=vi\n"),
           entry("bin", kind="dir"), entry("bin/sh", b"#!\n")),
    tar_of(entry("etc", kind="dir"), entry("etc/issue", b"v2\n"), entry("etc/motd", b"welcome\n")),
    tar_of(entry("etc", kind="dir"), entry("etc/.wh.demo.conf"),
           entry("etc/skel", kind="dir"), entry("etc/skel/.wh..wh..opq"), entry("etc/skel/.shrc", b"PS1=x\n")),
]

# what each layer leaves under /etc, and what it did there (+ added, ~ changed, - removed)
LISTINGS = [
    ["+ /etc", "+ /etc/demo.conf", "+ /etc/issue", "+ /etc/skel", "+ /etc/skel/.profile"],
    ["~ /etc", "  /etc/demo.conf", "~ /etc/issue", "+ /etc/motd", "  /etc/skel", "  /etc/skel/.profile"],
    ["~ /etc", "- /etc/demo.conf", "  /etc/issue", "  /etc/motd", "~ /etc/skel", "- /etc/skel/.profile",
     "+ /etc/skel/.shrc"],
]


@pytest.fixture
def layered(client):
    """``layered:1``: a base, a layer that changes /etc/issue and adds /etc/motd, and one that deletes
    /etc/demo.conf and makes /etc/skel opaque."""
    (image,) = client.images.load(docker_archive(LAYERS, tags=["layered:1"]))
    return image


@pytest.fixture
def no_ipywidgets(monkeypatch):
    """``import ipywidgets`` fails, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)


def pre_lines(value: str, css_class: str) -> list[str]:
    """The lines of text inside an HTML widget's ``<pre class="CSS_CLASS">``."""
    head, tail = f'<pre class="{css_class}">', "</pre>"
    assert value.startswith(head) and value.endswith(tail), value
    return html.unescape(value[len(head):-len(tail)]).splitlines()


def listing(files_html: str) -> list[str]:
    """The slider's file list: the DOM contract is ``pre.minidock-layer-files``."""
    return pre_lines(files_html, "minidock-layer-files")


def mimebundle(widget) -> dict:
    bundle = widget._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "application/vnd.jupyter.widget-view+json"}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
    return bundle


# -- the layer slider -------------------------------------------------------------------

def test_the_text_twin_lists_every_layer_with_what_it_did(layered):
    blocks = widgets.layer_slider_text(layered, "/etc").split("\n\n")
    assert len(blocks) == 3
    for i, (block, diff_id) in enumerate(zip(blocks, layered.record.diff_ids)):
        heading, *lines = block.splitlines()
        assert heading == f"layer {i}: {diff_id[7:19]}  /bin/sh -c step {i}"
        assert lines == LISTINGS[i]


def test_the_slider_starts_at_the_top_layer_and_each_position_shows_that_layer(layered):
    view = widgets.layer_slider(layered, "/etc")
    slider = view.slider
    assert (type(slider).__name__, slider.description, slider.min, slider.max, slider.value) == (
        "IntSlider", "layer", 0, 2, 2)
    assert listing(view.files.value)[1:] == LISTINGS[2]
    seen = {}
    for position in (0, 1, 2, 1):
        slider.value = position
        assert listing(view.files.value)[1:] == LISTINGS[position]
        seen[position] = view.files.value
    assert len(set(seen.values())) == 3
    assert listing(seen[1])[0].startswith(f"layer 1: {layered.record.diff_ids[1][7:19]}")


def test_a_slider_move_reads_the_layer_again(layered, client):
    view = widgets.layer_slider(layered, "/etc")
    diff = client.store.layer_dir(layered.record.chain_ids[1]) / "diff"
    (diff / "etc" / "late").write_text("written after the slider was made\n")
    view.slider.value = 1
    assert "+ /etc/late" in listing(view.files.value)
    view.slider.value = 2
    assert "  /etc/late" in listing(view.files.value)


def test_the_slider_still_moves_when_the_store_is_gone(layered, client):
    """A chapter's last cell removes its store; the slider shows what it read at first."""
    view = widgets.layer_slider(layered, "/etc")
    shutil.rmtree(client.store.root / "layers")
    for position in (1, 0, 2):
        view.slider.value = position
        assert listing(view.files.value)[1:] == LISTINGS[position]


def test_the_slider_escapes_what_it_shows(client):
    (image,) = client.images.load(docker_archive([tar_of(entry("a<b>&c", b"x"))], tags=["odd:1"]))
    view = widgets.layer_slider(image)
    assert "a&lt;b&gt;&amp;c" in view.files.value and "<b>" not in view.files.value
    assert listing(view.files.value)[1:] == ["+ /a<b>&c"]


def test_the_slider_shows_its_text_twin_as_plain_text(layered):
    view = widgets.layer_slider(layered, "/etc")
    view.slider.value = 0
    assert mimebundle(view)["text/plain"] == widgets.layer_slider_text(layered, "/etc")


def test_a_prefix_with_nothing_under_it(layered):
    assert widgets.layer_slider_text(layered, "/nowhere").splitlines()[1] == "  (nothing under /nowhere)"


def test_the_whole_tree_by_default(layered):
    lines = widgets.layer_slider_text(layered).split("\n\n")[0].splitlines()
    assert "+ /bin/sh" in lines and "+ /etc/issue" in lines and "  /" not in lines


# -- without ipywidgets ---------------------------------------------------------------

def test_without_ipywidgets_each_function_returns_its_text_twin(no_ipywidgets, layered, client):
    with pytest.raises(ImportError):
        importlib.import_module("ipywidgets")
    assert repr(widgets.layer_slider(layered, "/etc")) == widgets.layer_slider_text(layered, "/etc")
    assert repr(widgets.container_dashboard(client)) == widgets.dashboard_text(client)
    pids = {"pytest": os.getpid()}
    assert repr(widgets.namespace_explorer(pids)) == widgets.namespace_explorer_text(pids)
    assert "pytest" in repr(widgets.namespace_explorer(pids))


# -- the dashboard ------------------------------------------------------------------

def cells(board) -> list[list[str]]:
    """The dashboard's table as text: a list of rows, headings first (the buttons' columns left out)."""
    width = len(widgets.COLUMNS) + 3
    grid = board.table.children
    rows = [grid[i:i + width] for i in range(0, len(grid), width)]
    return [[html.unescape(c.value).removeprefix("<b>").removesuffix("</b>") for c in row[:len(widgets.COLUMNS)]]
            for row in rows]


def button(board, tooltip: str):
    (found,) = [c for c in board.table.children if getattr(c, "tooltip", None) == tooltip]
    return found


def test_an_empty_dashboard_has_the_headings_of_ps(client):
    board = widgets.container_dashboard(client)
    assert cells(board) == [["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"]]
    assert widgets.dashboard_text(client).split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "STATUS", "NAMES"]
    assert mimebundle(board)["text/plain"] == widgets.dashboard_text(client)


@root_fixture
def containers(busybox, client):
    """The client; every container it made is removed afterwards."""
    try:
        yield client
    finally:
        for container in client.containers.list(all=True):
            container.remove(force=True)


def until(condition, what: str, seconds: float = 20):
    """Wait for ``condition()`` to hold (a deadline against a hang, not a timing check)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


TALKER = ["sh", "-c", "echo hello from talker; trap 'exit 0' TERM; while true; do sleep 0.1; done"]


@pytest.mark.root
def test_the_dashboard_buttons_start_and_stop_a_container(containers):
    client = containers
    talker = client.containers.create("busybox", TALKER, name="talker", network_mode="none")
    board = widgets.container_dashboard(client, stop_timeout=10)
    heading, row = cells(board)
    assert row[0] == talker.short_id and row[3:] == ["Created", "talker"]
    assert button(board, "Stop talker").disabled and not button(board, "Start talker").disabled

    button(board, "Start talker").click()
    assert talker.status == "running"
    assert cells(board)[1][3].startswith("Up ")
    assert button(board, "Start talker").disabled and not button(board, "Stop talker").disabled
    assert " Up " in widgets.dashboard_text(client)

    until(lambda: b"hello from talker" in talker.logs(), "talker's greeting")
    button(board, "Logs talker").click()
    assert pre_lines(board.logs.value, "minidock-logs") == ["logs of talker:", "hello from talker"]

    button(board, "Stop talker").click()
    assert talker.status == "exited"
    assert cells(board)[1][3].startswith("Exited (0) ")  # its trap ran: stopped by SIGTERM, not killed
    assert not button(board, "Start talker").disabled
    assert "Exited (0)" in mimebundle(board)["text/plain"]


@pytest.mark.root
def test_refresh_shows_what_changed_elsewhere_and_errors_are_one_line(containers):
    client = containers
    board = widgets.container_dashboard(client)
    box = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="box", network_mode="none")
    assert len(cells(board)) == 1
    board.refresh.click()
    assert [row[4] for row in cells(board)[1:]] == ["box"] and cells(board)[1][3].startswith("Up ")
    stop = button(board, "Stop box")
    box.remove(force=True)
    stop.click()  # a stale button: its container is gone
    (message,) = pre_lines(board.logs.value, "minidock-logs")
    assert message.startswith("minidock: stop box: ")
    assert len(cells(board)) == 1  # redrawn all the same


# -- the namespace explorer ------------------------------------------------------------

def block(explorer) -> list[str]:
    """The explorer's lines for the chosen process."""
    return pre_lines(explorer.view.value, "minidock-namespaces")


@pytest.fixture
def sleeper():
    """A plain host process: it shares every namespace with this one."""
    proc = subprocess.Popen(["sleep", "1000"])
    until(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes(), "sleep's exec")  # Popen may return before it
    yield proc
    proc.kill()
    proc.wait()


def test_a_plain_host_process_shares_every_namespace(sleeper):
    explorer = widgets.namespace_explorer({"pytest": os.getpid(), "sleeper": sleeper.pid})
    assert [label for _, label in explorer.choice.options] == ["pytest", "sleeper"]
    assert explorer.choice.options[1][0] == "sleeper: sleep 1000"  # the label and the command line
    explorer.choice.value = "sleeper"
    heading, *lines = block(explorer)
    assert heading == "sleeper"
    types = [line.split(":[")[0].strip() for line in lines]
    assert types == sorted(set(os.listdir("/proc/self/ns")) & set(TYPES))
    assert all(line.endswith("shared with pytest") for line in lines), lines


def test_the_explorer_text_has_a_block_per_process_and_is_its_plain_text(sleeper):
    pids = [os.getpid(), sleeper.pid]
    text = widgets.namespace_explorer_text(pids)
    first, second = text.split("\n\n")
    assert first.splitlines()[0].endswith(f" (host PID {os.getpid()})")
    assert second.splitlines()[0] == f"sleep 1000 (host PID {sleeper.pid})"
    assert mimebundle(widgets.namespace_explorer(pids))["text/plain"] == text


def test_a_process_that_ended_is_reported_not_raised():
    ended = subprocess.Popen(["true"])
    ended.wait()
    explorer = widgets.namespace_explorer({"gone": ended.pid, "pytest": os.getpid()})
    assert block(explorer) == ["gone", "  cannot read its /proc/PID/ns: No such file or directory"]
    explorer.choice.value = "pytest"
    assert all(line.endswith("its own") for line in block(explorer)[1:])  # the only one left to share with


@pytest.mark.root
def test_a_container_has_its_own_mount_and_network_namespaces(containers):
    client = containers
    box = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="box", network_mode="none")
    explorer = widgets.namespace_explorer(client=client)
    labels = [label for _, label in explorer.choice.options]
    assert labels == [f"box (host PID {box.pid})", "init (host PID 1)", f"this kernel (host PID {os.getpid()})"]
    assert explorer.choice.value == labels[0]
    heading, *lines = block(explorer)
    by_type = {line.split(":[")[0].strip(): line for line in lines}
    for ns_type in ("mnt", "net", "uts", "ipc", "pid"):
        assert by_type[ns_type].endswith("its own"), by_type[ns_type]  # neither init's nor this process's
    assert by_type["user"].endswith(f"this kernel (host PID {os.getpid()})")  # root mode: no user namespace
    explorer.choice.value = labels[2]
    assert block(explorer)[0] == labels[2]
    kernel = {line.split(":[")[0].strip(): line for line in block(explorer)[1:]}
    assert kernel["net"].endswith("its own") and kernel["user"].endswith(f"shared with {labels[0]}")


@pytest.mark.root
def test_refresh_lists_the_containers_again(containers):
    client = containers
    explorer = widgets.namespace_explorer(client=client)
    assert len(explorer.choice.options) == 2
    box = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="box", network_mode="none")
    explorer.refresh.click()
    assert explorer.choice.options[0][1] == f"box (host PID {box.pid})"
    assert f"box (host PID {box.pid})" in widgets.namespace_explorer_text(client=client)
