"""Pictures that move: a slider through an image's layers, a container dashboard, a namespace explorer.

Each widget (ipywidgets) shows the same data as its text twin and reads it
afresh whenever it changes -- a slider move, a click, a choice:

* ``layer_slider(image, prefix)``: the files under ``prefix`` as each layer
  leaves them, marked with what that layer added (``+``), changed (``~``) and
  removed (``-``) -- what ``docker diff`` says of the layer (``unionfs.changes``
  with the layer as the upper directory); twin ``layer_slider_text``;
* ``container_dashboard(client)``: ``ps -a``'s rows with Start, Stop and Logs
  buttons; twin ``dashboard_text``;
* ``namespace_explorer(pids, client)``: which namespaces one process shares
  with which others (``namespaces.namespace_map`` and ``shared``); twin
  ``namespace_explorer_text``.

Where no widget can be drawn, the text twin stands in: it is each widget's
``text/plain`` (what a terminal IPython, ``nbconvert --to markdown``, a viewer
without the widgets' JavaScript show, and what nbval compares), and without
ipywidgets the functions return a ``TextTwin``, whose repr is the text.
"""

from __future__ import annotations

import functools
import html
import os
from dataclasses import dataclass
from pathlib import Path

from ...display import format_table
from ...errors import MinidockError
from ...api.containers import PS_HEADERS, ps_row  # ps's own rows: the dashboard and `ps -a` agree
from ...api.system import namespaces_of
from ...api.system import UnionView, changes
from ..lang import say
from . import text as columns
from .layers import layer_labels
from .namespaces import NamespaceMap, namespace_map, shared

MARKS = {"A": "+", "C": "~", "D": "-"}  # docker diff's kinds -> the listing's marks ("  ": as below)


class TextTwin:
    """What stands in for a widget where ipywidgets is missing: its repr is the text twin, read when shown."""

    def __init__(self, text):
        self.text = text

    def __repr__(self) -> str:
        return self.text()


def _ipywidgets():
    """The ipywidgets module, or None where it is not installed."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


@functools.cache
def _twin_box(widgets):
    class TwinBox(widgets.VBox):
        """A VBox whose text/plain is its text twin (ipywidgets' own is a repr cut at 110 characters)."""

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            bundle["text/plain"] = self.text()
            return bundle

    return TwinBox


def _box(widgets, children: list, text, **parts):
    """The widget to display: ``children`` stacked, ``text()`` its text/plain, ``parts`` named for tests."""
    box = _twin_box(widgets)(children)
    box.text = text
    for name, part in parts.items():
        setattr(box, name, part)
    return box


def _pre(css_class: str, text: str) -> str:
    return f'<pre class="{css_class}">{html.escape(text)}</pre>'


# -- the layer slider -------------------------------------------------------------

@dataclass(frozen=True)
class LayerFiles:
    """The tree under ``prefix`` as one layer leaves it, each path marked with what the layer did."""

    index: int                            # 0 = the bottom layer
    label: str                            # short DiffID and the step that made it (``layers.layer_labels``)
    prefix: str
    entries: tuple[tuple[str, str], ...]  # (mark, path), sorted depth first


def layer_dirs(image) -> list[Path]:
    """The diff directories of ``image``'s layers, bottom first (as ``rootfs.diff_ids``)."""
    return [image.client.store.layer_dir(c) / "diff" for c in image.record.chain_ids]


def layer_files(dirs: list[Path], index: int, label: str, prefix: str = "/") -> LayerFiles:
    """Layer ``index`` on the layers below it: the union's paths under ``prefix``, and that layer's diff."""
    view = UnionView(dirs[:index], dirs[index])  # the layer as the upper directory: changes() is its diff
    marks = {path: MARKS[kind] for kind, path in changes(view) if _under(path, prefix)}
    seen = {p.path for p in view.walk() if _under(p.path, prefix)}
    paths = sorted(seen | set(marks), key=lambda p: p.split("/"))
    return LayerFiles(index, label, prefix, tuple((marks.get(p, " "), p) for p in paths))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def layer_files_text(data: LayerFiles) -> str:
    """One layer's block: a heading, then ``+ path``, ``~ path``, ``- path`` or ``  path`` a line."""
    lines = [f"{mark} {path}" for mark, path in data.entries] or [
        say(f"  (nothing under {data.prefix})", f"  （{data.prefix} 下面什么都没有）")]
    return "\n".join([say(f"layer {data.index}: {data.label}", f"第 {data.index} 层：{data.label}"), *lines]) + "\n"


def layer_slider_text(image, prefix: str = "/") -> str:
    """The text twin: every layer's block, bottom first."""
    dirs, labels = layer_dirs(image), layer_labels(image)
    blocks = [layer_files_text(layer_files(dirs, i, labels[i], prefix)) for i in range(len(dirs))]
    return "\n".join(blocks) or say("(an image without layers)\n", "（这个镜像没有层）\n")


def layer_slider(image, prefix: str = "/"):
    """A slider over ``image``'s layers (at the top one) above the files under ``prefix`` after that layer.

    The files are ``<pre class="minidock-layer-files">``, read again at every move.
    Every layer is also read once at the start, so the slider still moves when
    the layers are gone (a chapter's last cell removes its store): then it
    shows what it read then.
    """
    widgets = _ipywidgets()
    if widgets is None or not image.record.chain_ids:
        return TextTwin(lambda: layer_slider_text(image, prefix))
    dirs, labels = layer_dirs(image), layer_labels(image)
    slider = widgets.IntSlider(value=len(dirs) - 1, min=0, max=len(dirs) - 1, description=say("layer", "层"))
    files = widgets.HTML()
    first_read = [layer_files_text(layer_files(dirs, k, labels[k], prefix)) for k in range(len(dirs))]

    def show(_change=None):
        k = slider.value
        try:
            if not all(d.is_dir() for d in dirs[:k + 1]):
                raise FileNotFoundError(dirs[k])
            text = layer_files_text(layer_files(dirs, k, labels[k], prefix))
        except OSError:
            text = first_read[k]  # the layers are gone from the store: as read when the slider was made
        files.value = _pre("minidock-layer-files", text)

    slider.observe(show, names="value")
    show()
    return _box(widgets, [slider, files], lambda: layer_slider_text(image, prefix), slider=slider, files=files)


# -- the container dashboard --------------------------------------------------------

COLUMNS = ("ID", "Image", "Command", "Status", "Names")  # of ps's columns: enough to tell containers apart


def dashboard_rows(client) -> list[tuple[object, dict]]:
    """(container, its ``ps -a`` row) for every container, newest first."""
    return [(c, ps_row(client, c.id, no_trunc=False, size=False)) for c in client.containers.list(all=True)]


def dashboard_text(client) -> str:
    """The text twin: ``ps -a`` with the dashboard's columns."""
    rows = [[row[k] for k in COLUMNS] for _, row in dashboard_rows(client)]
    return format_table([PS_HEADERS[k] for k in COLUMNS], rows) + "\n"


def container_dashboard(client, stop_timeout: float = 10):
    """``ps -a`` as a table with Start, Stop and Logs per container, and Refresh; redrawn after every click.

    Stop waits ``stop_timeout`` seconds for the container to end on SIGTERM, then kills it (``stop -t``).
    """
    widgets = _ipywidgets()
    if widgets is None:
        return TextTwin(lambda: dashboard_text(client))
    table = widgets.GridBox(layout=widgets.Layout(grid_template_columns=f"repeat({len(COLUMNS) + 3}, auto)",
                                                  grid_gap="2px 12px"))
    logs = widgets.HTML(_pre("minidock-logs", ""))
    refresh = widgets.Button(description=say("Refresh", "刷新"), tooltip=say("read the containers again", "重新读取容器"))

    def redraw(_button=None):
        cells = [widgets.HTML(f"<b>{html.escape(PS_HEADERS[k])}</b>") for k in COLUMNS]
        cells += [widgets.HTML() for _ in range(3)]  # the buttons' columns have no heading
        for container, row in dashboard_rows(client):
            cells += [widgets.HTML(html.escape(row[k])) for k in COLUMNS] + buttons(container, row)
        table.children = cells

    def buttons(container, row) -> list:
        name, running = row["Names"], row["State"] == "running"
        actions = {"start": (container.start, running),   # the docker verbs, which an error message names
                   "stop": (lambda: container.stop(timeout=stop_timeout), not running),
                   "logs": (lambda: show_logs(container, name), False)}
        found = []
        for verb, (action, disabled) in actions.items():
            what = say(verb.capitalize(), {"start": "启动", "stop": "停止", "logs": "日志"}[verb])
            found.append(widgets.Button(description=what, disabled=disabled, tooltip=f"{what} {name}"))
            found[-1].on_click(lambda _button, action=action, verb=verb: act(action, f"{verb} {name}"))
        return found

    def show_logs(container, name: str):
        logs.value = _pre("minidock-logs", say(f"logs of {name}:\n", f"{name} 的日志：\n")
                          + container.logs().decode(errors="replace"))

    def act(action, doing: str):
        try:
            action()
        except MinidockError as e:  # one line where the logs go, as the CLI would say it
            logs.value = _pre("minidock-logs", f"minidock: {doing}: {e}")
        redraw()

    refresh.on_click(redraw)
    redraw()
    return _box(widgets, [refresh, table, logs], lambda: dashboard_text(client),
                table=table, logs=logs, refresh=refresh)


# -- the namespace explorer ----------------------------------------------------------

@dataclass(frozen=True)
class Sharing:
    """Who shares which namespace, for the processes whose /proc/PID/ns could be read; why not, for the rest."""

    data: NamespaceMap
    unreadable: dict[str, str]  # label -> the error ("Permission denied": PID 1 in some sandboxes)


def explorer_processes(pids=None, client=None) -> dict[str, dict[str, int]]:
    """``namespace_map``'s sides: ``pids`` (a list, or {label: pid}), or else every running container,
    PID 1 and this process (the kernel's, in a notebook)."""
    if isinstance(pids, dict):
        return {"given": dict(pids)}
    if pids is not None:
        return {"given": {_on_host(_command(pid), pid): pid for pid in pids}}
    if client is None:
        from ...api.client import from_env
        client = from_env()
    return {say("containers", "容器"): {_on_host(c.name, c.pid): c.pid for c in client.containers.list()},
            say("host", "宿主机"): {_on_host("init", 1): 1,
                                    _on_host(say("this kernel", "这个 Jupyter 内核"), os.getpid()): os.getpid()}}


def _on_host(name: str, pid: int) -> str:
    """A process's label: its name and its PID as the host sees it."""
    return say(f"{name} (host PID {pid})", f"{name}（宿主机 PID {pid}）")


def sharing_of(sides: dict[str, dict[str, int]]) -> Sharing:
    """``namespace_map`` of the processes whose namespaces this process may read."""
    readable: dict[str, dict[str, int]] = {}
    unreadable = {}
    for side, members in sides.items():
        for label, pid in members.items():
            try:
                namespaces_of(pid)
                readable.setdefault(side, {})[label] = pid
            except OSError as e:  # ended, or not ours to look at (ptrace access mode, proc(5))
                unreadable[label] = e.strerror
    return Sharing(namespace_map(readable), unreadable)


def sharing_text(sharing: Sharing, label: str) -> str:
    """One process's block: each namespace, and who else listed is in it ("its own": nobody)."""
    if label in sharing.unreadable:
        return say(f"{label}\n  cannot read its /proc/PID/ns: {sharing.unreadable[label]}\n",
                   f"{label}\n  读不了它的 /proc/PID/ns：{sharing.unreadable[label]}\n")
    data = sharing.data
    others = [p.label for p in data.processes if p.label != label]
    same = {other: shared(data, label, other) for other in others}
    names = [(t, f"{t}:[{inode}]") for p in data.processes if p.label == label for t, inode in p.namespaces]
    width = max(columns.width(name) for _, name in names)
    lines = [label]
    for ns_type, name in names:
        with_ = [other for other in others if same[other].get(ns_type)]
        who = say(f"shared with {', '.join(with_)}", f"与 {'、'.join(with_)} 共享") if with_ else say("its own", "独有")
        lines.append(f"  {columns.ljust(name, width)}  {who}")
    return "\n".join(lines) + "\n"


def namespace_explorer_text(pids=None, client=None) -> str:
    """The text twin: every process's block."""
    sides = explorer_processes(pids, client)
    sharing = sharing_of(sides)
    return "\n".join(sharing_text(sharing, label) for members in sides.values() for label in members)


def namespace_explorer(pids=None, client=None):
    """A dropdown of processes (see ``explorer_processes``); below it, what the chosen one shares with whom.

    The namespaces are read again at every choice and at Refresh (which also lists the processes again).
    """
    widgets = _ipywidgets()
    if widgets is None:
        return TextTwin(lambda: namespace_explorer_text(pids, client))
    choice = widgets.Dropdown(description=say("process", "进程"))
    view = widgets.HTML()
    refresh = widgets.Button(description=say("Refresh", "刷新"), tooltip=say("list the processes again", "重新列出进程"))
    sides = {}

    def show(_change=None):
        view.value = _pre("minidock-namespaces", sharing_text(sharing_of(sides), choice.value)
                          if choice.value else say("(no processes)\n", "（没有进程）\n"))

    def relist(_button=None):
        sides.clear()
        sides.update(explorer_processes(pids, client))
        members = [(label, pid) for m in sides.values() for label, pid in m.items()]
        choice.options = [(_option(label, pid), label) for label, pid in members]
        if choice.value is None and members:  # a dropdown given its first options chooses none of them
            choice.value = members[0][0]
        show()  # (the choice may have stayed the same)

    choice.observe(show, names="value")
    refresh.on_click(relist)
    relist()
    return _box(widgets, [widgets.HBox([choice, refresh]), view], lambda: namespace_explorer_text(pids, client),
                choice=choice, view=view, refresh=refresh)


def _option(label: str, pid: int) -> str:
    """A dropdown entry: the label, and the command line when the label does not already say it."""
    command = _command(pid)
    return label if label.startswith(command) else f"{label}: {command}"


def _command(pid: int, width: int = 60) -> str:
    """The process's command line, shortened (``[name]`` for a kernel thread, ``?`` once it has ended)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        command = argv or f"[{Path(f'/proc/{pid}/comm').read_text().strip()}]"
    except OSError:
        return "?"
    return command if len(command) <= width else command[:width - 1] + "…"
