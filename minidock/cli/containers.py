"""Container commands: run, create, start, stop, restart, kill, pause, unpause, update, wait, rm, ps,
logs, attach, exec, top, port, rename, stats, diff, commit, export, cp, and nsenter."""

from __future__ import annotations

import io
import os
import selectors
import signal
import socket
import sys
import tempfile
import termios
import tty as ttymod

from ..api import containers as ctr
from ..api import detachkeys
from ..api.client import Client
from ..api.containers import PS_HEADERS, FrameReader, create_config, parse_signal, ps_row
from ..api.volumes import mounts_volume, parse_mount_flag
from ..display import format_table, parse_size
from ..errors import APIError, MinidockError, UsageError
from .base import command, confirmed, each_named, filters, flag, formatted, label_pairs, out


RUN_FLAGS = (
    flag("-d", "--detach", action="store_true", help="Run container in background and print container ID"),
    flag("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY"),
    flag("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached"),
    flag("--rm", action="store_true", help="Automatically remove the container when it exits"),
    flag("--name", help="Assign a name to the container"),
    flag("-e", "--env", action="append", default=[], help="Set environment variables"),
    flag("--env-file", action="append", default=[], help="Read in a file of environment variables"),
    flag("-l", "--label", action="append", default=[], help="Set meta data on a container"),
    flag("-w", "--workdir", help="Working directory inside the container"),
    flag("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    flag("-h", "--hostname", help="Container host name"),
    flag("--entrypoint", help="Overwrite the default ENTRYPOINT of the image"),
    flag("-p", "--publish", action="append", default=[], help="Publish a container's port(s) to the host"),
    flag("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports"),
    flag("--network", "--net", default="bridge", help="Connect a container to a network"),
    flag("--network-alias", "--net-alias", action="append", default=[], help="Add network-scoped alias for the container"),
    flag("-m", "--memory", help="Memory limit"),
    flag("--pids-limit", type=int, help="Tune container pids limit"),
    flag("--cpus", type=float, help="Number of CPUs"),
    flag("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)"),
    flag("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)"),
    flag("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)"),
    flag("--read-only", action="store_true", help="Mount the container's root filesystem as read only"),
    flag("--restart", default="no", help="Restart policy to apply when a container exits (no, always, unless-stopped, on-failure[:N])"),
    flag("--pid", default="", help="PID namespace to use (host: the host's)"),
    flag("--uts", default="", help="UTS namespace to use (host: the host's)"),
    flag("--stop-signal", help="Signal to stop the container"),
    flag("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container"),
    flag("--init", action="store_true", help="Run an init inside the container that forwards signals and reaps processes"),
    flag("--detach-keys", help="Override the key sequence for detaching a container"),
    flag("-v", "--volume", action="append", default=[], help="Bind mount a volume"),
    flag("--mount", action="append", default=[], help="Attach a filesystem mount to the container"),
    flag("--tmpfs", action="append", default=[], help="Mount a tmpfs directory"),
    flag("--cap-add", action="append", default=[], help="Add Linux capabilities"),
    flag("--cap-drop", action="append", default=[], help="Drop Linux capabilities"),
    flag("--privileged", action="store_true", help="Give extended privileges to this container"),
    flag("--security-opt", action="append", default=[], help="Security Options"),
)


def create_from(client: Client, opts) -> str:
    """``create``/``run``: the container's ID, from the parsed flags."""
    image, command = opts.args[0], opts.args[1:] or None
    try:
        memory = parse_size(opts.memory) if opts.memory else None
    except ValueError as e:
        raise UsageError(f'invalid argument "{opts.memory}" for "-m, --memory" flag: {e}') from None
    config, host = create_config(
        image, command, entrypoint=[opts.entrypoint] if opts.entrypoint else None,
        environment=env_from_files(opts.env_file) + list(opts.env), working_dir=opts.workdir, user=opts.user,
        hostname=opts.hostname, tty=opts.tty, stdin_open=opts.interactive, network_mode=opts.network,
        ports=opts.publish, publish_all_ports=opts.publish_all, mem_limit=memory, pids_limit=opts.pids_limit,
        nano_cpus=round(opts.cpus * 1e9) if opts.cpus else None, read_only=opts.read_only, init=opts.init,
        cpu_shares=opts.cpu_shares, cpuset_cpus=opts.cpuset_cpus, extra_hosts=opts.add_host or None,
        auto_remove=opts.rm, restart_policy=restart_policy(opts.restart), pid_mode=opts.pid, uts_mode=opts.uts,
        stop_signal=opts.stop_signal, stop_timeout=opts.stop_timeout, volumes=opts.volume,
        mounts=[mount_flag(m) for m in opts.mount], tmpfs=opts.tmpfs, labels=label_pairs(opts.label) or None,
        cap_add=opts.cap_add or None, cap_drop=opts.cap_drop or None, privileged=opts.privileged or None,
        security_opt=security_opts(opts.security_opt) or None)
    return client.containers.containers.create(config, host, opts.name, {"Aliases": opts.network_alias})


def security_opts(options: list[str]) -> list[str]:
    """``--security-opt``, as docker's command line reads it before sending: every option but
    ``no-new-privileges`` needs a value, and ``seccomp=FILE`` sends the file's JSON, compacted."""
    import json
    sent = []
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise UsageError(f'Invalid --security-opt: "{opt}"')
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            try:
                with open(value, "rb") as f:
                    text = f.read()
            except OSError as e:
                raise UsageError(f"opening seccomp profile ({value}) failed: open {value}: "
                                 f"{e.strerror[0].lower() + e.strerror[1:]}") from None
            try:
                opt = "seccomp=" + json.dumps(json.loads(text), separators=(",", ":"))
            except ValueError as e:
                raise UsageError(f"compacting json for seccomp profile ({value}) failed: {e}") from None
        sent.append(opt)
    return sent


def mount_flag(text: str) -> dict:
    """``--mount KEY=VALUE,...``; a malformed one is docker's usage error."""
    try:
        return parse_mount_flag(text)
    except MinidockError as e:
        raise UsageError(f'invalid argument "{text}" for "--mount" flag: {e}') from None


def restart_policy(text: str) -> dict:
    """``--restart on-failure:3`` -> ``{"Name": "on-failure", "MaximumRetryCount": 3}``, as docker's CLI reads it."""
    name, _, count = text.partition(":")
    if count and not count.isdigit():
        raise UsageError(f"invalid restart policy format: maximum retry count must be an integer: {text}")
    return {"Name": name or "no", "MaximumRetryCount": int(count or 0)}


def env_from_files(paths) -> list[str]:
    """``--env-file``: KEY=VALUE lines, # comments and blank lines skipped (read here, as docker's CLI does)."""
    items = []
    for path in paths:
        with open(path) as f:
            items += [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    return items


@command("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image",
         *RUN_FLAGS, counts=(1, None), error_code=None, interspersed=False)
def run_cmd(client: Client, opts) -> int:
    c = client.containers.containers
    cid = create_from(client, opts)
    if opts.detach:
        c.start(cid)
        out(cid)
        return 0
    ours, theirs = socket.socketpair()
    try:
        c.start(cid, attach=theirs)
    except MinidockError:
        if opts.rm:
            c.remove_leftover(cid)
        raise
    code = relay(c, cid, ours, opts.interactive, opts.tty, opts.detach_keys)
    if opts.rm and code is not None:
        c.remove_leftover(cid)
    return code or 0


@command("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
         *RUN_FLAGS, counts=(1, None), error_code=None, interspersed=False)
def create_cmd(client: Client, opts) -> None:
    out(create_from(client, opts))


@command("start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
         flag("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals"),
         flag("-i", "--interactive", action="store_true", help="Attach container's STDIN"),
         flag("--detach-keys", help="Override the key sequence for detaching a container"),
         counts=(1, None))
def start_cmd(client: Client, opts) -> int:
    c = client.containers.containers
    for name in opts.args:
        cid = c.resolve(name)
        if opts.attach or opts.interactive:
            ours, theirs = socket.socketpair()
            c.start(cid, attach=theirs)
            return relay(c, cid, ours, opts.interactive, c.config(cid)["Tty"], opts.detach_keys) or 0
        c.start(cid)
        out(name)
    return 0


def each(client: Client, opts, action) -> int:
    """Apply ``action(cid)`` to every named container, printing each name like docker."""
    return each_named(opts.args, lambda name: action(client.containers.containers.resolve(name)))


@command("stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
         flag("-t", "--time", type=int, help="Seconds to wait before killing the container"),
         counts=(1, None))
def stop_cmd(client: Client, opts) -> int:
    return each(client, opts, lambda cid: client.containers.containers.stop(cid, opts.time))


@command("restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
         flag("-t", "--time", type=int, help="Seconds to wait before killing the container"),
         counts=(1, None))
def restart_cmd(client: Client, opts) -> int:
    c = client.containers.containers
    return each(client, opts, lambda cid: (c.stop(cid, opts.time), c.start(cid)))


@command("kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
         flag("-s", "--signal", default="KILL", help="Signal to send to the container"),
         counts=(1, None))
def kill_cmd(client: Client, opts) -> int:
    sig = parse_signal(opts.signal)
    return each(client, opts, lambda cid: client.containers.containers.kill(cid, sig))


@command("rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
         flag("-f", "--force", action="store_true", help="Force the removal of a running container (uses SIGKILL)"),
         flag("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container"),
         counts=(1, None))
def rm_cmd(client: Client, opts) -> int:
    return each(client, opts, lambda cid: client.containers.containers.remove(cid, force=opts.force,
                                                                               volumes=opts.volumes))


@command("pause", "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", counts=(1, None))
def pause_cmd(client: Client, opts) -> int:
    return each(client, opts, lambda cid: ctr.resources.pause(client.containers.containers, cid))


@command("unpause", "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers",
         counts=(1, None))
def unpause_cmd(client: Client, opts) -> int:
    return each(client, opts, lambda cid: ctr.resources.unpause(client.containers.containers, cid))


@command("update", "[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers",
         flag("-m", "--memory", help="Memory limit"),
         flag("--memory-swap", help='Swap limit equal to memory plus swap: -1 to enable unlimited swap'),
         flag("--cpus", type=float, help="Number of CPUs"),
         flag("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)"),
         flag("--restart", help="Restart policy to apply when a container exits"),
         counts=(1, None))
def update_cmd(client: Client, opts) -> int:
    if opts.memory_swap not in (None, "-1", "0"):
        raise UsageError("minidock has no swap limit: --memory-swap takes -1")
    try:
        memory = parse_size(opts.memory) if opts.memory else None
    except ValueError as e:
        raise UsageError(f'invalid argument "{opts.memory}" for "-m, --memory" flag: {e}') from None
    if memory is None and opts.cpus is None and opts.pids_limit is None and opts.memory_swap is None \
            and opts.restart is None:
        raise UsageError("you must provide one or more flags when using this command")
    return each(client, opts, lambda cid: ctr.resources.update(
        client.containers.containers, cid, memory=memory, pids=opts.pids_limit, cpus=opts.cpus,
        restart=restart_policy(opts.restart) if opts.restart else None))


@command("wait", "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes",
         counts=(1, None))
def wait_cmd(client: Client, opts) -> None:
    for name in opts.args:
        out(str(client.containers.containers.wait(client.containers.containers.resolve(name))))


@command("rename", "CONTAINER NEW_NAME", "Rename a container", counts=(2, 2))
def rename_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    c.rename(c.resolve(opts.args[0]), opts.args[1])


# -- ps -----------------------------------------------------------------------

@command("ps", "[OPTIONS]", "List containers",
         flag("-a", "--all", action="store_true", help="Show all containers (default shows just running)"),
         flag("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided"),
         flag("--format", help="Format output using a Go template"),
         flag("--no-trunc", action="store_true", help="Don't truncate output"),
         flag("-q", "--quiet", action="store_true", help="Only display container IDs"),
         flag("-s", "--size", action="store_true", help="Display total file sizes"),
         counts=(0, 0))
def ps_cmd(client: Client, opts) -> None:
    wanted = filters(opts.filter, ("status", "name", "id", "exited", "ancestor", "volume", "label"))
    labels = wanted.pop("label", [])   # each must hold (docker ANDs label filters, ORs the others' values)
    everyone = opts.all or "status" in wanted or "exited" in wanted
    lineage = {name: client.images.get(name).record.chain_ids for name in wanted.get("ancestor", [])}
    records = client.containers.containers
    rows = []
    for c in client.containers.list(all=everyone):
        row, state = ps_row(client, c.id, opts.no_trunc, opts.size), records.state(c.id)
        checks = {"status": lambda v: v == row["State"], "name": lambda v: v in row["Names"],
                  "id": lambda v: c.id.startswith(v),
                  "exited": lambda v: row["State"] == "exited" and str(state["ExitCode"]) == v,
                  "ancestor": lambda v: _descends(records.config(c.id)["Layers"], lineage[v]),
                  "volume": lambda v: mounts_volume(records.config(c.id), v)}
        if all(any(checks[key](v) for v in values) for key, values in wanted.items()) and \
                all(_labelled(c.labels, spec) for spec in labels):
            rows.append(row)
    if opts.quiet:
        return out("\n".join(r["ID"] for r in rows)) if rows else None
    if opts.format:
        return out(formatted(opts.format, rows, PS_HEADERS))
    cols = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"] + (["Size"] if opts.size else [])
    out(format_table([PS_HEADERS[k] for k in cols], [[r[k] for k in cols] for r in rows]))


def _labelled(labels: dict, spec: str) -> bool:
    """``label=KEY`` (the key is there) or ``label=KEY=VALUE``."""
    key, eq, value = spec.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _descends(layers: list[str], ancestor: list[str]) -> bool:
    """``ancestor=IMAGE``: the container's image is that image or built on it (its layers first)."""
    return layers[:len(ancestor)] == ancestor


# -- output and input ---------------------------------------------------------

@command("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container",
         flag("-f", "--follow", action="store_true", help="Follow log output"),
         flag("-n", "--tail", default="all", help="Number of lines to show from the end of the logs"),
         flag("-t", "--timestamps", action="store_true", help="Show timestamps"),
         counts=(1, 1))
def logs_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    cid = c.resolve(opts.args[0])
    for stream, line in ctr.log_entries(c, cid, timestamps=opts.timestamps, tail=opts.tail, follow=opts.follow):
        target = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        target.write(line)
        target.flush()


@command("attach", "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container",
         flag("--detach-keys", help="Override the key sequence for detaching a container"),
         flag("--no-stdin", action="store_true", help="Do not attach STDIN"),
         counts=(1, 1))
def attach_cmd(client: Client, opts) -> int:
    c = client.containers.containers
    cid = c.resolve(opts.args[0])
    if c.state(cid)["Status"] != "running":
        raise APIError("You cannot attach to a stopped container, start it first")
    container = client.containers.get(cid)
    config = c.config(cid)
    stdin = config["OpenStdin"] and not opts.no_stdin
    return relay(c, cid, container.attach_socket(stdin=stdin), stdin, config["Tty"], opts.detach_keys) or 0


def relay(c, cid: str, sock: socket.socket, stdin: bool, tty: bool, detach_keys: str | None) -> int | None:
    """Move bytes between our terminal and the shim; the exit code, or None after detaching."""
    keys = detachkeys.parse(detach_keys)
    sel = selectors.PollSelector()  # poll(2) takes a regular file as stdin (``< file``); epoll refuses it
    sel.register(sock, selectors.EVENT_READ, "sock")
    if stdin:
        sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    frames = FrameReader()
    raw = stdin and tty and sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin.fileno()) if raw else None
    if raw:  # TCSANOW: keep what was typed before we got here (setraw's default TCSAFLUSH drops it)
        ttymod.setraw(sys.stdin.fileno(), termios.TCSANOW)
    forward = forward_signals(c, cid) if not tty else None
    # the docker CLI spots the keys with a TTY only, and holds a started sequence back until it breaks
    escape = detachkeys.Sequence(keys) if tty and keys else None
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "stdin":
                    data = os.read(sys.stdin.fileno(), 4096)
                    if not data:
                        sel.unregister(sys.stdin.fileno())
                        sock.shutdown(socket.SHUT_WR)
                        continue
                    if escape:
                        data, detached = escape.feed(data)
                        if detached:
                            print("\r\nread escape sequence", file=sys.stderr)
                            return None
                    if data:
                        sock.sendall(data)
                    continue
                chunk = sock.recv(65536)
                if not chunk:  # the shim hung up without an exit frame: it died
                    return c.wait(cid)
                for stream, payload in frames.feed(chunk):
                    if stream == 3:
                        return int(payload)
                    target = sys.stdout.buffer if stream == 1 else sys.stderr.buffer
                    target.write(payload)
                    target.flush()
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        if forward:
            forward()
        sock.close()


def forward_signals(c, cid: str):
    """docker's --sig-proxy: SIGINT and SIGTERM to us go to the container; returns an undo."""
    def send(sig, _frame):
        try:
            c.kill(cid, sig)
        except MinidockError:
            pass
    old = {sig: signal.signal(sig, send) for sig in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]


@command("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container",
         flag("-d", "--detach", action="store_true", help="Detached mode: run command in the background"),
         flag("-e", "--env", action="append", default=[], help="Set environment variables"),
         flag("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached"),
         flag("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY"),
         flag("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
         flag("-w", "--workdir", help="Working directory inside the container"),
         counts=(2, None), error_code=None, interspersed=False)
def exec_cmd(client: Client, opts) -> int:
    c = client.containers.containers
    cid = running(c, opts.args[0])
    argv = opts.args[1:]
    if opts.tty:
        return exec_with_pty(c, cid, argv, opts)
    null = os.open(os.devnull, os.O_RDONLY)
    stdio = (0 if opts.interactive else null, 1, 2)
    pid, err_r = ctr.exec_process(c, cid, exec_config(argv, opts), stdio)
    os.close(null)
    code, message = ctr.exec_wait(pid, err_r)
    if message:
        raise exec_error(code, message)
    return code


def exec_config(argv: list[str], opts) -> ctr.ExecConfig:
    """``exec``'s flags as the Engine API's exec configuration."""
    return ctr.ExecConfig(Cmd=argv, Env=opts.env, WorkingDir=opts.workdir or "", User=opts.user or "", Tty=opts.tty)


def running(c, name: str) -> str:
    """The ID of the running container ``exec`` goes into; docker's CLI exits 1 when there is none."""
    try:
        cid = c.resolve(name)
    except MinidockError as e:
        raise exec_error(1, str(e)) from None
    state = c.state(cid)
    if state["Status"] != "running":
        raise exec_error(1, f"container {cid} is not running")
    if state.get("Paused"):
        raise exec_error(1, f"Container {cid} is paused, unpause the container before exec")
    return cid


def exec_error(code: int, message: str) -> MinidockError:
    error = APIError(message)
    error.exit_code = code
    return error


def exec_with_pty(c, cid: str, argv: list[str], opts) -> int:
    """``exec -t``: the command makes a pty in the container's devpts and sends us its master to relay."""
    import socket
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid, err_r = ctr.exec_process(c, cid, exec_config(argv, opts), pty_sock=theirs.fileno())
    theirs.close()
    with ours:
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    if not fds:  # it ended before it had a terminal: exec_wait says why
        code, message = ctr.exec_wait(pid, err_r)
        raise exec_error(code or 126, message or "exec: no terminal was made")
    master = fds[0]
    if sys.stdin.isatty():  # the pty gets our window size
        import fcntl
        size = fcntl.ioctl(sys.stdin.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    raw = opts.interactive and sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin.fileno()) if raw else None
    if raw:
        ttymod.setraw(sys.stdin.fileno(), termios.TCSANOW)
    try:
        sel = selectors.PollSelector()  # as in relay: stdin may be a regular file
        sel.register(master, selectors.EVENT_READ)
        if opts.interactive:
            sel.register(sys.stdin.fileno(), selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        raise StopIteration
                    sys.stdout.buffer.write(data)
                    sys.stdout.buffer.flush()
                else:
                    data = os.read(key.fd, 4096)
                    if data:
                        os.write(master, data)
                    else:
                        sel.unregister(key.fd)
    except StopIteration:
        pass
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        os.close(master)
    code, message = ctr.exec_wait(pid, err_r)
    if message:
        raise exec_error(code, message)
    return code


# -- looking at a container -----------------------------------------------------

@command("top", "CONTAINER", "Display the running processes of a container", counts=(1, 1))
def top_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    result = ctr.top(c, c.resolve(opts.args[0]))
    out(format_table(result["Titles"], result["Processes"]))


@command("port", "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings for the container", counts=(1, 2))
def port_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    cid = c.resolve(opts.args[0])
    state = c.state(cid)
    for ip, hp, p, proto in state.get("Ports") or []:
        if len(opts.args) == 1:
            out(f"{p}/{proto} -> {ip}:{hp}")
        elif opts.args[1] in (str(p), f"{p}/{proto}"):
            out(f"{ip}:{hp}")


@command("stats", "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics",
         flag("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result"),
         counts=(0, None))
def stats_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    cids = [c.resolve(n) for n in opts.args] or [x.id for x in client.containers.list()]
    rows = []
    for cid in cids:
        s = ctr.stats(c, cid)
        limit = s.get("memory_limit")
        usage = s.get("memory_usage", 0)
        percent = f"{100 * usage / limit:.2f}%" if limit else "0.00%"
        rows.append([cid[:12], c.name_of(cid), f"{binary_size(usage)} / {binary_size(limit) if limit else 'unlimited'}",
                     percent, str(s.get("pids_current", 0))])
    out(format_table(["CONTAINER ID", "NAME", "MEM USAGE / LIMIT", "MEM %", "PIDS"], rows))


def binary_size(size: float) -> str:
    """Sizes as ``docker stats`` prints them (go-units BytesSize): powers of 1024, "32MiB", "651.5KiB"."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    while size >= 1024 and len(units) > 1:
        size, units = size / 1024, units[1:]
    return f"{size:.4g}{units[0]}"


@command("diff", "CONTAINER", "Inspect changes to files or directories on a container's filesystem", counts=(1, 1))
def diff_cmd(client: Client, opts) -> None:
    for change in client.containers.get(opts.args[0]).diff():
        out(f"{'CAD'[change['Kind']]} {change['Path']}")


@command("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes",
         flag("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
         flag("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image"),
         flag("-m", "--message", default="", help="Commit message"),
         flag("-p", "--pause", action="store_true", default=True, help="Pause container during commit"),
         counts=(1, 2))
def commit_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    ref = opts.args[1] if len(opts.args) > 1 else None
    out(c.commit(c.resolve(opts.args[0]), ref, opts.message, opts.author, opts.change))


@command("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tminidock cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
         "Copy files/folders between a container and the local filesystem",
         flag("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)"),
         flag("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH"),
         flag("-q", "--quiet", action="store_true", help="Suppress progress output during copy"),
         counts=(2, 2))
def cp_cmd(client: Client, opts) -> int:
    src, dest = opts.args
    source, target = _container_path(src), _container_path(dest)
    if (source is None) == (target is None):
        raise cp_error("copying between containers is not supported" if source else
                       "must specify at least one container source")
    c = client.containers.containers
    if source is not None:
        return copy_from(c, c.resolve(source[0]), source, dest, opts.follow_link)
    return copy_to(c, c.resolve(target[0]), src, target, opts.archive)


def _container_path(arg: str) -> tuple[str, str] | None:
    """docker's rule: "NAME:PATH" names a container's path unless the part before ":" has a "/"
    (a local path with a colon is written ./a:b)."""
    name, colon, path = arg.partition(":")
    if not colon or "/" in name or not name:
        return None
    return name, path


def cp_error(message: str) -> MinidockError:
    return exec_error(1, message)


def copy_from(c, cid: str, source: tuple[str, str], dest: str, follow: bool) -> int:
    """``cp CONTAINER:SRC DEST``: the tar of SRC, extracted at DEST (or written to stdout for "-")."""
    name, path = source
    found = ctr.copy.stat_path(c, cid, path, name)
    if follow and found["linkTarget"]:
        path, found = found["linkTarget"], ctr.copy.stat_path(c, cid, found["linkTarget"], name)
    into, rebase = local_place(dest, path, found) if dest != "-" else (None, None)
    _, chunks = ctr.copy.get_archive(c, cid, path, name)
    try:
        if into is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        if rebase and rebase[0] == ".":  # "DIR/." into a new DEST: make DEST, then the contents go in
            os.mkdir(dest, 0o755)
            into, rebase = dest, None
        with ctr.ChunkReader(chunks) as tar:
            ctr.copy.extract_archive("/", os.path.realpath(into), io.BufferedReader(tar, 1 << 20), rebase=rebase)
    finally:
        chunks.close()
    return 0


def local_place(dest: str, path: str, found: dict) -> tuple[str, tuple[str, str] | None]:
    """Where a copy out of a container goes, as docker cp decides it: (the directory the tar is
    extracted into, None or (the tar's top name, the name it gets there))."""
    if os.path.isdir(dest):  # into it: SRC by its own name, or (SRC/.) what SRC holds
        return dest, None
    if dest.endswith(("/", "/.")):
        raise cp_error(f'destination directory "{dest}" must exist')
    if os.path.lexists(dest) and found["mode"] & ctr.copy.GO_DIR:
        raise cp_error(f'cannot copy directory "{path}" to file "{dest}"')
    into = os.path.dirname(dest) or "."
    if not os.path.isdir(into):
        raise cp_error(f'no such directory "{into}"')
    contents = ctr.copy.split_path(path)[1] == "."
    return into, ("." if contents else found["name"], os.path.basename(dest))


def copy_to(c, cid: str, src: str, target: tuple[str, str], archive: bool) -> int:
    """``cp SRC CONTAINER:DEST``: SRC as a tar (or the tar on stdin for "-"), extracted in the container."""
    name, path = target
    try:
        found = ctr.copy.stat_path(c, cid, path, name)
        if found["linkTarget"]:
            path, found = found["linkTarget"], ctr.copy.stat_path(c, cid, found["linkTarget"], name)
    except ctr.NotFound:
        found = None
    dest_is_dir = found is not None and bool(found["mode"] & ctr.copy.GO_DIR)
    if src == "-":
        if not dest_is_dir:
            raise cp_error(f'destination "{name}:{path}" must be a directory')
        chunks = iter(lambda: sys.stdin.buffer.read(1 << 16), b"")
        ctr.copy.put_archive(c, cid, path, name, chunks, no_overwrite_dir_non_dir=True, copy_uid_gid=archive)
        return 0
    if not os.path.lexists(src):
        raise cp_error(f"lstat {src}: no such file or directory")
    if dest_is_dir:
        into, top = path, os.path.basename(os.path.normpath(src))
    elif found is None and path.endswith("/"):
        raise cp_error(f'destination "{name}:{path}" must be a directory')
    elif found is not None and os.path.isdir(src):
        raise cp_error(f'cannot copy directory "{src}" to file "{name}:{path}"')
    else:
        into, top = os.path.dirname(path.rstrip("/")) or "/", os.path.basename(path.rstrip("/"))
    if src.endswith("/.") and dest_is_dir:
        top = "."
    with tempfile.TemporaryFile() as tar:
        ctr.write_tree_tar(src, tar, top)
        tar.seek(0)
        ctr.copy.put_archive(c, cid, into, name, iter(lambda: tar.read(1 << 20), b""),
                             no_overwrite_dir_non_dir=True, copy_uid_gid=archive)
    return 0


@command("export", "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive",
         flag("-o", "--output", help="Write to a file, instead of STDOUT"), counts=(1, 1))
def export_cmd(client: Client, opts) -> None:
    c = client.containers.containers
    cid = c.resolve(opts.args[0])
    if opts.output:
        with client.store.temp_path(".tar") as tmp:
            with open(tmp, "wb") as f:
                ctr.export_to(c, cid, f)
            os.replace(tmp, os.path.abspath(opts.output))
        return
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    ctr.export_to(c, cid, sys.stdout.buffer)


@command("nsenter", "--target PID [--mount] [--uts] [--ipc] [--net] [--pid] [--all] [COMMAND [ARG...]]",
         "Run a program in the namespaces of another process (a Python twin of util-linux nsenter)",
         flag("-t", "--target", type=int, required=False, help="Target process to get namespaces from"),
         flag("-m", "--mount", action="store_true", help="Enter the mount namespace"),
         flag("-u", "--uts", action="store_true", help="Enter the UTS namespace (hostname etc)"),
         flag("-i", "--ipc", action="store_true", help="Enter the System V IPC namespace"),
         flag("-n", "--net", action="store_true", help="Enter the network namespace"),
         flag("-p", "--pid", action="store_true", help="Enter the pid namespace"),
         flag("-C", "--cgroup", action="store_true", help="Enter the cgroup namespace"),
         flag("-a", "--all", action="store_true", help="Enter all namespaces"),
         counts=(0, None), error_code=None, interspersed=False)
def nsenter_cmd(client: Client, opts) -> int:
    from ..api.system import nsenter
    if not opts.target:
        raise UsageError("nsenter: no target PID specified for --target")
    chosen = [ns for ns, on in (("ipc", opts.ipc), ("uts", opts.uts), ("net", opts.net), ("pid", opts.pid),
                                ("cgroup", opts.cgroup), ("mnt", opts.mount)) if on or opts.all]
    argv = opts.args or [os.environ.get("SHELL", "/bin/sh")]
    return nsenter(opts.target, argv, namespaces=chosen)


@command("container", "COMMAND", "Manage containers: prune", counts=(1, None))
def container_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock container"')


@command("container prune", "[OPTIONS]", "Remove all stopped containers",
         flag("-f", "--force", action="store_true", help="Do not prompt for confirmation"),
         counts=(0, 0))
def container_prune_cmd(client: Client, opts) -> int:
    if not (opts.force or confirmed("all stopped containers")):
        return 0
    gone = client.containers.prune()["ContainersDeleted"]
    if gone:
        out("Deleted Containers:\n" + "\n".join(gone) + "\n")
    out("Total reclaimed space: 0B")
    return 0
