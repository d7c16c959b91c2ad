"""Pictures: each text twin and each dot source, for data built by hand, is stable and says the right thing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from minidock.containers.unionfs import UnionView
from minidock.course.viz import dotlang, layers, lifecycle, namespaces, network


def assert_renders(dot: str) -> None:
    """``dot -Tsvg`` accepts the source and draws something."""
    proc = subprocess.run([require_tool("dot"), "-Tsvg"], input=dot.encode(), capture_output=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
    assert b"<svg" in proc.stdout


# -- the dot language -----------------------------------------------------------

def test_quote_escapes_what_dot_would_misread():
    assert dotlang.quote('say "hi"\\now\nnext') == r'"say \"hi\"\\now\nnext"'


def test_attributes_are_sorted_and_none_is_left_out():
    assert dotlang.attributes({"shape": "box", "label": "a", "style": None}) == ' [label="a", shape="box"]'
    assert dotlang.attributes({"label": dotlang.Html("<B>x</B>")}) == " [label=<<B>x</B>>]"
    assert dotlang.attributes({}) == ""


def test_a_cluster_is_a_subgraph_whose_name_starts_with_cluster():
    lines = dotlang.cluster("host", "the host", [dotlang.node("a")])
    assert lines[0] == '  subgraph "cluster_host" {' and lines[-1] == "  }"
    assert_renders(dotlang.digraph("g", lines))


# -- the lifecycle ----------------------------------------------------------------

def test_lifecycle_text_marks_the_current_state():
    text = lifecycle.lifecycle_text(lifecycle.state_machine("exited"))
    assert text.splitlines()[0] == "states: created, running, [exited], removed"
    assert "created --start--> running" in text
    assert "running --rm -f--> removed" in text
    assert "exited  --start, restart--> running" in text
    assert text == lifecycle.lifecycle_text(lifecycle.state_machine("exited"))


def test_lifecycle_dot_has_every_state_and_edge_and_fills_only_the_current_one():
    dot = lifecycle.lifecycle_dot(lifecycle.state_machine("running"))
    for a, b, command in lifecycle.TRANSITIONS:
        assert f'"{a}" -> "{b}" [label="{command}"];' in dot
    assert '"running" [fillcolor="gold", penwidth="2", shape="ellipse", style="filled"];' in dot
    assert dot.count("gold") == 1
    assert '"removed" [shape="doublecircle"];' in dot
    assert_renders(dot)


def test_lifecycle_without_a_current_state_highlights_nothing():
    assert "gold" not in lifecycle.lifecycle_dot(lifecycle.state_machine())
    assert "[" not in lifecycle.lifecycle_text(lifecycle.state_machine()).splitlines()[0]


def test_an_unknown_state_is_refused():
    with pytest.raises(ValueError, match="the states are created, running, exited, removed"):
        lifecycle.state_machine("paused")


# -- namespaces -------------------------------------------------------------------

HOST = {"mnt": 4026531841, "net": 4026531840, "user": 4026531837}
BOX = {"mnt": 4026532200, "net": 4026532203, "user": 4026531837}


def process(label: str, side: str, inodes: dict) -> namespaces.Process:
    return namespaces.Process(label, side, 0, tuple(sorted(inodes.items())))


def sample_namespaces() -> namespaces.NamespaceMap:
    """A shell on the host, a process nsenter put in the box's net namespace only, and the box's PID 1."""
    half = dict(HOST, net=BOX["net"])
    return namespaces.group(("host", "box"), (process("shell", "host", HOST), process("half", "host", half),
                                              process("sh", "box", BOX)))


def test_namespaces_text_groups_processes_by_inode():
    assert namespaces.namespaces_text(sample_namespaces()) == (
        "NS                 PROCESSES\n"
        "mnt:[4026531841]   shell, half\n"
        "mnt:[4026532200]   sh\n"
        "net:[4026531840]   shell\n"
        "net:[4026532203]   half, sh\n"
        "user:[4026531837]  shell, half, sh\n")


def test_shared_says_same_or_different_per_type():
    data = sample_namespaces()
    assert namespaces.shared(data, "shell", "sh") == {"mnt": False, "net": False, "user": True}
    assert namespaces.shared(data, "half", "sh") == {"mnt": False, "net": True, "user": True}


def test_a_namespace_is_on_one_side_or_shared():
    data = sample_namespaces()
    sides = {ns.name: data.side_of(ns) for ns in data.namespaces}
    assert sides == {"mnt:[4026531841]": "host", "mnt:[4026532200]": "box", "net:[4026531840]": "host",
                     "net:[4026532203]": None, "user:[4026531837]": None}


def test_namespaces_dot_merges_the_cells_of_neighbours_in_one_namespace():
    dot = namespaces.namespaces_dot(sample_namespaces())
    assert '<TD COLSPAN="3" BGCOLOR="palegreen">4026531837 ⇔ shared</TD>' in dot      # user: everyone's
    assert '<TD COLSPAN="2" BGCOLOR="lightblue">4026531841</TD>' in dot      # mnt: the host's two
    assert '<TD COLSPAN="2" BGCOLOR="palegreen">4026532203 ⇔ shared</TD>' in dot      # net: half and sh, across sides
    assert "(green): one namespace both sides are in" in dot   # the legend says it in words, not colour alone
    assert '<TD COLSPAN="1" BGCOLOR="khaki">4026532200</TD>' in dot
    assert dot.index(">mnt<") < dot.index(">net<") < dot.index(">user<")
    assert dot == namespaces.namespaces_dot(sample_namespaces())
    assert_renders(dot)


def test_two_processes_need_two_labels():
    with pytest.raises(ValueError, match="its own label"):
        namespaces.group(("host",), (process("sh", "host", HOST), process("sh", "host", HOST)))


def test_namespace_map_reads_proc():
    data = namespaces.namespace_map({"here": {"pytest": os.getpid(), "self": "self"}})
    assert [ns.members for ns in data.namespaces] == [("pytest", "self")] * len(data.namespaces)
    assert {ns.type for ns in data.namespaces} <= set(namespaces.TYPES)


# -- the network --------------------------------------------------------------------

def sample_network() -> network.Network:
    return network.Network("minidock0", "10.87.0.1/16", (
        network.Endpoint("db", "eth0", "10.87.0.3/16", "02:42:0a:57:00:03", "veth22222222", True, ()),
        network.Endpoint("web", "eth0", "10.87.0.2/16", "02:42:0a:57:00:02", "veth11111111", True,
                         ("127.0.0.1:8080 -> 80/tcp",)),
    ))


def test_network_text_is_a_tree_from_the_bridge():
    assert network.network_text(sample_network()) == (
        "minidock0  10.87.0.1/16  (the bridge, on the host)\n"
        "├── veth22222222 == eth0  10.87.0.3/16  02:42:0a:57:00:03  in db\n"
        "└── veth11111111 == eth0  10.87.0.2/16  02:42:0a:57:00:02  in web\n"
        "        published: 127.0.0.1:8080 -> 80/tcp\n")


def test_network_dot_cables_each_container_to_the_bridge():
    dot = network.network_dot(sample_network())
    assert '"bridge" -> "veth:web" [arrowhead="none", label="port"];' in dot
    assert '"veth:web" -> "eth0:web" [dir="both", label="veth pair", penwidth="2"];' in dot
    assert '"port:127.0.0.1:8080 -> 80/tcp" -> "eth0:web" [label="proxy to 80/tcp", style="dashed"];' in dot
    assert 'subgraph "cluster_db"' in dot and 'subgraph "cluster_host"' in dot
    assert dot == network.network_dot(sample_network())
    assert_renders(dot)


def test_a_veth_end_off_the_bridge_is_drawn_without_its_port():
    lonely = network.Network("minidock0", "10.87.0.1/16", (
        network.Endpoint("x", "eth0", "10.87.0.2/16", "02:42:0a:57:00:02", "veth33333333", False, ()),))
    assert "(not on the bridge)" in network.network_text(lonely)
    assert '"bridge" -> "veth:x"' not in network.network_dot(lonely)


# -- layers -------------------------------------------------------------------------

def make_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Files (text), and directories (None), under ``root``; whiteouts in their tar form (``.wh.``)."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return root


@pytest.fixture
def stack(tmp_path) -> UnionView:
    """Layer 0: etc/{passwd,motd,skel/a}. Layer 1: deletes motd, replaces skel by an opaque one with b.
    Upper: a changed passwd (a copy-up) and a new file."""
    l0 = make_tree(tmp_path / "l0", {"etc/passwd": "root\n", "etc/motd": "hi\n", "etc/skel/a": "a\n", "bin/sh": "sh"})
    l1 = make_tree(tmp_path / "l1", {"etc/.wh.motd": "", "etc/skel/.wh..wh..opq": "", "etc/skel/b": "b\n"})
    upper = make_tree(tmp_path / "upper", {"etc/passwd": "root\nme\n", "etc/new": "new\n"})
    return UnionView([l0, l1], upper)


def test_union_rows_say_what_each_layer_has(stack):
    data = layers.union_of(stack, "/etc", ["base", "step 1", "writable"])
    assert data.layers == (("0", "base"), ("1", "step 1"), ("upper", "writable"))
    rows = {r.path: (r.visible, r.cells, r.hidden_by) for r in data.rows}
    assert rows == {
        "/etc": (True, ("merged", "merged", "top"), None),
        "/etc/motd": (False, ("hidden", "whiteout", ""), ("whiteout", "1")),
        "/etc/new": (True, ("", "", "top"), None),
        "/etc/passwd": (True, ("shadowed", "", "top"), None),
        "/etc/skel": (True, ("shadowed", "opaque", ""), None),
        "/etc/skel/a": (False, ("hidden", "", ""), ("opaque", "1")),
        "/etc/skel/b": (True, ("", "top", ""), None),
    }
    assert [r.path for r in data.rows] == sorted(rows)


def test_layers_text_is_a_tree_of_where_each_path_comes_from(stack):
    assert layers.layers_text(layers.union_of(stack, "/etc", ["base", "step 1", "writable"])) == (
        "layers, top first:\n"
        "  upper  writable\n"
        "  1      step 1\n"
        "  0      base\n"
        "\n"
        "/etc        dir  upper, merged with 1, 0\n"
        "├── motd    ✗ whiteout in 1 hides 0\n"
        "├── new     file upper\n"
        "├── passwd  file upper, hides 0\n"
        "└── skel    dir  1 (opaque), hides 0\n"
        "    ├── a   ✗ opaque directory in 1 hides 0\n"
        "    └── b   file 1\n")


def test_layers_dot_is_one_table_with_the_upper_layer_on_top(stack):
    data = layers.union_of(stack, "/etc", ["base", "step 1", "writable"])
    dot = layers.layers_dot(data)
    assert dot.index(">what is seen<") < dot.index(">upper<") < dot.index(">1<BR/>") < dot.index(">0<BR/>")
    assert '<TD BGCOLOR="salmon">whiteout</TD>' in dot
    assert '<TD BGCOLOR="orange">dir, opaque</TD>' in dot
    assert "<B>skel/a</B>" in dot and "<B>/etc</B>" in dot
    assert dot == layers.layers_dot(layers.union_of(stack, "/etc", ["base", "step 1", "writable"]))
    assert_renders(dot)


def test_an_image_view_without_an_upper_layer(stack):
    view = UnionView(stack.layers)
    data = layers.union_of(view, "/")
    assert [name for name, _ in data.layers] == ["0", "1"]
    assert data.layers[0][1] == str(stack.layers[0])  # no labels: the directories themselves
    assert "/bin/sh" in [r.path for r in data.rows]
    assert "├── bin" in layers.layers_text(data)


def test_a_missing_prefix_has_no_rows(stack):
    assert layers.union_of(stack, "/nowhere").rows == ()


def test_svg_is_a_graphviz_source_whose_repr_names_the_graph():
    graphviz = pytest.importorskip("graphviz")
    picture = dotlang.svg(lifecycle.lifecycle_dot(lifecycle.state_machine("created")))
    assert isinstance(picture, graphviz.Source)
    assert repr(picture) == "<picture: lifecycle>"  # what Jupyter stores as text/plain: no memory address


# -- client and daemon (chapter 07) -------------------------------------------------

from minidock.course.viz import stack as program_chain  # noqa: E402  ("stack" is the union fixture above)


def test_the_chain_pairs_each_docker_program_with_its_minidock_part():
    text = program_chain.chain_text()
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["Docker", "minidock"]
    assert [line.split()[0] for line in lines[1:]] == ["docker", "dockerd", "containerd", "containerd-shim", "runc"]
    assert "minidock/runtime/shim.py" in lines[4] and "minidock/api/daemon" in lines[2]


def test_the_chain_dot_has_a_row_per_part_and_labels_each_hop():
    dot = program_chain.chain_dot()
    parts = program_chain.DOCKER_CHAIN
    assert dot.count("rank=same") == len(parts)
    for lower in parts[1:]:
        assert f'label="{lower.reached_by}"' in dot, lower
    assert_renders(dot)


def test_ancestry_follows_parents_to_pid_1(tmp_path):
    for pid, ppid, name in [(1, 0, "systemd"), (40, 1, "minidock-shim"), (41, 40, "my (odd) name")]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({name}) S {ppid} {pid} 0 0\n")
    chain = program_chain.ancestry(41, proc=tmp_path)
    assert chain == [(41, "my (odd) name"), (40, "minidock-shim"), (1, "systemd")]
    assert program_chain.ancestry_text(chain) == "my (odd) name <- minidock-shim <- PID 1"
    assert program_chain.ancestry(99, proc=tmp_path) == []  # gone: nothing to follow


def test_ancestry_of_this_process_reaches_pid_1():
    chain = program_chain.ancestry(os.getpid())
    assert chain[0][0] == os.getpid() and chain[-1][0] == 1


def test_a_picture_wider_than_the_page_is_scaled_down_whole():
    from minidock.course.viz import dotlang
    wide = '<svg width="1500pt" height="60pt"\n viewBox="0.00 0.00 1500.00 60.00">'
    fitted = dotlang.fit_width(wide)            # 2,000 x 80 px: halved
    assert fitted.startswith('<svg width="1000px" height="40px"') and 'viewBox="0.00 0.00 1500.00 60.00"' in fitted
    narrow = '<svg width="600pt" height="60pt" viewBox="0 0 600 60">'   # 800 px: as it is
    assert dotlang.fit_width(narrow) == narrow
