"""The pictures in the Chinese edition: the course's own words in Chinese, Docker's words as Docker prints
them, and text columns that line up by display width (a CJK character takes two columns)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from archives import docker_archive, entry, tar_of
from conftest import root_fixture
from test_viz import assert_renders, make_tree, sample_namespaces, sample_network
from test_widgets import LAYERS, layered  # noqa: F401  (a fixture)
from minidock.containers.unionfs import UnionView
from minidock.course import lang
from minidock.course.viz import (archives, layers, lifecycle, namespaces, network, registry, stack, steps,
                                 text as columns, widgets)


@pytest.fixture
def zh(monkeypatch):
    """The Chinese edition, as a learner's ``MINIDOCK_COURSE_LANG=zh`` picks it."""
    monkeypatch.setenv("MINIDOCK_COURSE_LANG", "zh")
    monkeypatch.setitem(lang._edition, "lang", None)
    assert lang.current() == "zh"


def column_of(line: str, cell: str) -> int:
    """Where ``cell`` starts in ``line``, in display columns."""
    return columns.width(line[:line.index(cell)])


def aligned(lines: list[str], cells: list[str]) -> bool:
    """Each line's cell starts at the same display column."""
    return len({column_of(line, cell) for line, cell in zip(lines, cells)}) == 1


def absent(text: str, *english: str) -> bool:
    """None of the English phrases is left in ``text``."""
    left = [phrase for phrase in english if phrase in text]
    assert not left, left
    return True


# -- the helper ------------------------------------------------------------------------

def test_width_counts_a_cjk_character_as_two_columns_and_a_combining_mark_as_none():
    assert columns.width("镜像") == 4 and columns.width("abc") == 3 and columns.width("e\u0301") == 1
    assert columns.width("（）：，") == 8   # fullwidth punctuation is wide too
    assert columns.width("…│✗⇔“") == 5     # ambiguous width: one column, as beside Latin text


def test_ascii_is_padded_and_cut_exactly_as_str_does():
    for text in ("", "a", "layer", "containerd-shim"):
        for n in range(0, 18):
            assert columns.ljust(text, n) == text.ljust(n) and columns.rjust(text, n) == text.rjust(n)
    assert columns.cut("abcdef", 6) == "abcdef" and columns.cut("abcdef", 4) == "abc…"


def test_chinese_is_padded_and_cut_by_display_width():
    assert columns.ljust("镜像", 6) == "镜像  " and columns.rjust("层", 4) == "  层"
    assert columns.ljust("镜像仓库", 4) == "镜像仓库"       # already wider: as it is
    assert columns.cut("镜像仓库", 6) == "镜像…"           # 5 columns: a third character would make 7
    assert columns.width(columns.cut("ab镜像仓库", 7)) <= 7


# -- each picture -------------------------------------------------------------------------

def test_lifecycle_in_chinese(zh):
    text = lifecycle.lifecycle_text(lifecycle.state_machine("exited"))
    lines = text.splitlines()
    assert lines[0] == "状态：created, running, [exited], removed"   # Docker's state names stay
    assert "running --stop, kill, 程序结束--> exited" in text and "running --rm -f--> removed" in text
    assert aligned(lines[1:], [" --"] * (len(lines) - 1)) and lines[1].startswith("镜像 ")
    assert absent(text, "states:", "the program ends", "image")
    dot = lifecycle.lifecycle_dot(lifecycle.state_machine("running"))
    assert '"image" [label="镜像", shape="box", style="rounded,dashed"];' in dot
    assert '"running" -> "exited" [label="stop, kill, 程序结束"];' in dot
    assert_renders(dot)
    with pytest.raises(ValueError, match="没有 'paused' 这个状态"):
        lifecycle.state_machine("paused")


def test_namespaces_in_chinese(zh):
    lines = namespaces.namespaces_text(sample_namespaces()).splitlines()
    assert lines[0].split() == ["NS", "进程"] and lines[-1] == "user:[4026531837]  shell、half、sh"
    assert aligned(lines, ["进程", "shell", "sh", "shell", "half", "shell"])
    dot = namespaces.namespaces_dot(sample_namespaces())
    assert "4026531837 ⇔ 共享" in dot and "（绿色）：两边同在的一个命名空间" in dot and ">mnt<" in dot
    assert absent(dot, "shared", "one cell per namespace")
    assert_renders(dot)
    with pytest.raises(ValueError, match="每个进程要有自己的标签"):
        namespaces.group(("host",), (sample_namespaces().processes[0],) * 2)


def test_network_in_chinese(zh):
    text = network.network_text(sample_network())
    assert text.splitlines()[0] == "minidock0  10.87.0.1/16  （网桥，在宿主机上）"
    assert "└── veth11111111 == eth0  10.87.0.2/16  02:42:0a:57:00:02  在 web 中" in text
    assert "        发布端口：127.0.0.1:8080 -> 80/tcp" in text
    assert text.count("veth pair（虚拟网卡对）") == 1   # the English term kept, glossed once
    assert absent(text, "the bridge, on the host", "published:", " in web")
    dot = network.network_dot(sample_network())
    assert 'label="veth pair"' in dot and 'label="代理转发到 80/tcp"' in dot and 'label="宿主机"' in dot
    assert "web（自己的网络命名空间）" in dot and absent(dot, "own network namespace", "proxy to")
    assert_renders(dot)


@pytest.fixture
def chinese_stack(tmp_path) -> UnionView:
    """test_viz's layers, and a file with a Chinese name whose tree line is wider in columns than in characters."""
    l0 = make_tree(tmp_path / "l0", {"etc/passwd": "root\n", "etc/motd": "hi\n", "etc/skel/a": "a\n",
                                     "etc/说明.txt": "zh\n"})
    l1 = make_tree(tmp_path / "l1", {"etc/.wh.motd": "", "etc/skel/.wh..wh..opq": "", "etc/skel/b": "b\n"})
    upper = make_tree(tmp_path / "upper", {"etc/passwd": "root\nme\n", "etc/new": "new\n"})
    return UnionView([l0, l1], upper)


def test_layers_in_chinese(zh, chinese_stack):
    data = layers.union_of(chinese_stack, "/etc", ["基础", "第一步", "可写层"])
    text = layers.layers_text(data)
    lines = text.splitlines()
    assert lines[:4] == ["各层，从上到下：", "  upper  可写层", "  1      第一步", "  0      基础"]
    tree = lines[5:5 + len(data.rows)]
    assert tree == ["/etc          目录 来自 upper，与 1、0 合并",
                    "├── motd      ✗ 层 1 的 whiteout 遮住 0",
                    "├── new       文件 来自 upper",
                    "├── passwd    文件 来自 upper，遮住 0",
                    "├── skel      目录 来自 1（opaque），遮住 0",
                    "│   ├── a     ✗ 层 1 的 opaque 目录遮住 0",
                    "│   └── b     文件 来自 1",
                    "└── 说明.txt  文件 来自 0"]   # "说明.txt" is 8 columns wide: two spaces, like the longest
    assert aligned(tree, ["目录", "✗", "文件", "文件", "目录", "✗", "文件", "文件"])
    assert lines[-2:] == ["whiteout（白障）：上层删除下层文件时留下的标记", "opaque（不透明）目录：下层同名目录的内容不再透出"]
    assert absent(text, "top first", "hides", "merged with", "file ", "dir ")
    dot = layers.layers_dot(data)
    assert "<B>看到的是</B>" in dot and ">（已不见）<" in dot and '"/etc 在各层中"' in dot
    assert '<TD BGCOLOR="salmon">whiteout</TD>' in dot and '<TD BGCOLOR="orange">目录，不透明</TD>' in dot
    assert '<TD BGCOLOR="honeydew">目录，合并</TD>' in dot and ">被遮盖<" in dot and ">被隐藏<" in dot
    assert_renders(dot)


def test_an_empty_prefix_and_no_legend_where_nothing_is_hidden(zh, tmp_path):
    view = UnionView([make_tree(tmp_path / "l0", {"etc/hosts": "x\n"})])
    assert layers.layers_text(layers.union_of(view, "/nowhere")).splitlines()[-1] == "/nowhere  哪一层在这里都没有东西"
    assert "whiteout" not in layers.layers_text(layers.union_of(view, "/etc"))


def test_steps_in_chinese(zh):
    data = [steps.Step("<missing>", "ADD file:abc in / ", 4_000_000, True),
            steps.Step("abcdef123456", 'CMD ["sh"]', 0, False),
            steps.Step("123456abcdef", "RUN echo 你好，世界 " + "很长" * 40, 1234, True)]
    lines = steps.steps_text(data).splitlines()
    assert lines[-1] == "3 步，其中 2 步产生了文件系统层" and lines[1].split() == ["abcdef123456", "-", "CMD", '["sh"]']
    what = lines[2][lines[2].index("RUN"):]
    assert 59 <= columns.width(what) <= 60 and what.endswith("…")   # cut to 60 columns, not 60 characters
    assert "只改配置" in steps.steps_dot(data) and absent(steps.steps_dot(data), "config only")
    assert_renders(steps.steps_dot(data))


def sample_registry() -> list[registry.Tagged]:
    shared_layer = ("sha256:" + "c" * 64, 2_000_000)
    return [registry.Tagged("busybox", "latest", "sha256:" + "a" * 64, ("sha256:" + "b" * 64, 1500), (shared_layer,)),
            registry.Tagged("me/busybox", "v1", "sha256:" + "d" * 64, ("sha256:" + "e" * 64, 1400),
                            (shared_layer, ("sha256:" + "f" * 64, 120)))]


def test_registry_in_chinese(zh):
    lines = registry.registry_text(sample_registry()).splitlines()
    assert lines[:3] == ["busybox:latest -> manifest aaaaaaaaaaaa", "    配置 bbbbbbbbbbbb  1.5kB",
                         "    层   cccccccccccc  2MB"]
    assert aligned(lines[1:3], ["bbb", "ccc"])
    assert lines[-2:] == ["被不止一个 manifest 引用的层：cccccccccccc", "manifest（清单）：按 digest 列出一个镜像的配置和各层"]
    assert registry.registry_text([]) == "被不止一个 manifest 引用的层：没有"
    dot = registry.registry_dot(sample_registry())
    assert 'label="层 cccccccccccc\\n2MB"' in dot and 'label="配置 bbbbbbbbbbbb\\n1.5kB"' in dot
    assert 'label="manifest\\naaaaaaaaaaaa"' in dot
    assert_renders(dot)


def starts(line: str) -> list[int]:
    """The display columns where a row's cells begin (cells are two or more spaces apart)."""
    return [columns.width(line[:m.start()]) for m in re.finditer(r"(?:^|(?<=  ))\S", line)]


def test_the_chain_in_chinese(zh):
    lines = stack.chain_text().splitlines()
    assert lines[0].split() == ["Docker", "minidock", "上一层怎样调用它", "做什么"]
    assert [line.split()[0] for line in lines[1:]] == ["docker", "dockerd", "containerd", "containerd-shim", "runc"]
    assert len({tuple(starts(line)) for line in lines}) == 1   # every column starts where its heading does
    assert "gRPC（minidock：一次 Python 调用）" in lines[3] and "minidock/runtime/shim.py" in lines[4]
    assert absent("\n".join(lines), "reached by", "serves the Engine API", "a command the shim runs")
    dot = stack.chain_dot()
    assert 'label="unix 套接字上的 HTTP"' in dot and "dockerd\\n提供 Engine API" in dot
    assert all(part.reached_by in stack.CHINESE and part.job in stack.CHINESE for part in stack.DOCKER_CHAIN)
    assert_renders(dot)


def right_column(text: str, title: str, cells: tuple[str, ...]) -> set[int]:
    """Where the right archive's title and each of its ``cells`` start, on every row that has one."""
    rows = text.splitlines()
    found = {column_of(rows[0], title)}
    return found | {column_of(row, cell) for row in rows[1:] for cell in cells if cell in row}


def test_archives_in_chinese(zh, tmp_path):
    (tmp_path / "saved.tar").write_bytes(docker_archive(LAYERS, tags=["layered:1"]))
    (tmp_path / "flat.tar").write_bytes(tar_of(entry("etc", kind="dir"), entry("etc/issue", b"v1\n"),
                                               entry("说明.txt", b"hi\n"), entry("hello.txt", b"hi\n")))
    saved, flat = (archives.archive_contents(tmp_path / name) for name in ("saved.tar", "flat.tar"))
    text = archives.archives_text(saved, flat)
    rows = text.splitlines()
    assert rows[0].split()[:2] == ["saved.tar", "(save,"] and "flat.tar (export," in rows[0]
    bands = [row for row in rows if row[:1] not in ("", " ")]
    assert [row.split()[0] for row in bands] == ["manifest", "配置", "层", "文件", "whiteout（白障）：层"]
    assert aligned(bands[:3], ["manifest.json", "blobs/", "blobs/"])    # after a kind column 11 wide
    assert len(right_column(text, "flat.tar", ("etc/", "hello.txt", "说明.txt"))) == 1
    swapped = archives.archives_text(flat, saved)  # the Chinese file name in the left column, padded by width
    assert len(right_column(swapped, "saved.tar", ("manifest.json", "blobs/"))) == 1
    assert "个条目，其中 2 个 whiteout" in text and "layered:1" in text and absent(text, "entries", "no tag")
    dot = archives.archives_dot(saved, flat)
    assert "2 个条目" in dot and 'label="saved.tar: save, ' in dot
    assert_renders(dot)


# -- the widgets ----------------------------------------------------------------------------

def test_the_layer_slider_in_chinese(zh, layered):  # noqa: F811
    text = widgets.layer_slider_text(layered, "/etc")
    assert text.splitlines()[0] == f"第 0 层：{layered.record.diff_ids[0][7:19]}  /bin/sh -c step 0"
    assert "+ /etc/issue" in text and absent(text, "layer 0")
    assert widgets.layer_slider_text(layered, "/nowhere").splitlines()[1] == "  （/nowhere 下面什么都没有）"
    view = widgets.layer_slider(layered, "/etc")
    assert view.slider.description == "层" and "第 2 层：" in view.files.value


def test_the_explorer_in_chinese(zh):
    ended = subprocess.Popen(["true"])
    ended.wait()
    explorer = widgets.namespace_explorer({"gone": ended.pid, "pytest": os.getpid()})
    assert (explorer.choice.description, explorer.refresh.description, explorer.refresh.tooltip) == (
        "进程", "刷新", "重新列出进程")
    view = "\n".join(line for line in explorer.view.value.splitlines())
    assert "读不了它的 /proc/PID/ns：No such file or directory" in view   # the kernel's own words stay
    explorer.choice.value = "pytest"
    assert "独有" in explorer.view.value
    (label,) = widgets.explorer_processes([os.getpid()])["given"]
    assert label.endswith(f"（宿主机 PID {os.getpid()}）")


def test_the_explorer_lists_the_host_in_chinese(zh, client):
    assert widgets.explorer_processes(client=client) == {
        "容器": {}, "宿主机": {"init（宿主机 PID 1）": 1, f"这个 Jupyter 内核（宿主机 PID {os.getpid()}）": os.getpid()}}


def test_the_explorer_says_who_shares_in_chinese(zh):
    sharing = widgets.Sharing(sample_namespaces(), {})
    lines = widgets.sharing_text(sharing, "half").splitlines()
    assert lines == ["half", "  mnt:[4026531841]   与 shell 共享", "  net:[4026532203]   与 sh 共享",
                     "  user:[4026531837]  与 shell、sh 共享"]


def test_an_empty_dashboard_in_chinese_keeps_ps_headings(zh, client):
    board = widgets.container_dashboard(client)
    assert (board.refresh.description, board.refresh.tooltip) == ("刷新", "重新读取容器")
    assert widgets.dashboard_text(client).split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "STATUS", "NAMES"]


@root_fixture
def talker(busybox, client):
    """A created container that says hello when started; removed afterwards."""
    try:
        yield client.containers.create("busybox", ["echo", "hello"], name="talker", network_mode="none")
    finally:
        for container in client.containers.list(all=True):
            container.remove(force=True)


@pytest.mark.root
def test_the_dashboard_buttons_in_chinese(zh, client, talker):
    board = widgets.container_dashboard(client)
    buttons = {b.tooltip: b for b in board.table.children if hasattr(b, "tooltip") and b.tooltip}
    assert sorted(buttons) == ["停止 talker", "启动 talker", "日志 talker"]
    assert [b.description for b in buttons.values()] == ["启动", "停止", "日志"]
    buttons["日志 talker"].click()
    assert "talker 的日志：" in board.logs.value
    talker.remove(force=True)
    buttons["停止 talker"].click()   # a stale button: the error names docker's verb, as the CLI does
    assert "minidock: stop talker: " in board.logs.value


@pytest.mark.root
def test_a_containers_layers_in_chinese(zh, talker):
    labels = [label for _, label in layers.container_union(talker, "/etc").layers]
    assert labels[-2:] == ["init 层：空的 /etc/hosts、/etc/hostname 等，留给挂载覆盖", "容器的可写层"]
