"""The ``minidock`` command as a user types it: docker's verbs, flags, tables and errors."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
import tarfile

import pytest

import minidock
from conftest import REPO, run_cli
from archives import docker_archive, image_config, one_line_error, small_layer, stored_layer, add_layers

def output_of(proc: subprocess.CompletedProcess) -> str:
    """What a command that must succeed printed."""
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def lines_of(proc: subprocess.CompletedProcess) -> list[str]:
    return output_of(proc).splitlines()


def usage_error(proc: subprocess.CompletedProcess, first: str, command: str) -> None:
    """cobra's usage error: the message, then ``See 'minidock CMD --help'.``, exit 125."""
    err = proc.stderr.decode()
    assert proc.returncode == 125, err
    assert err.splitlines()[:2] == [f"minidock: {first}", f"See 'minidock {command} --help'."], err
    assert "Traceback" not in err and proc.stdout == b""


@pytest.fixture
def two(busybox, small) -> tuple:
    """busybox:latest and small:1."""
    return busybox, small


# -- images -------------------------------------------------------------------------

def test_images_prints_docker_s_table(two):
    busybox, small = two
    table = lines_of(run_cli("images"))
    assert re.fullmatch(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE", table[0])
    rows = {r.split()[0]: r.split() for r in table[1:]}
    assert rows["busybox"][:3] == ["busybox", "latest", busybox.id[7:19]]
    assert rows["small"][:3] == ["small", "1", small.id[7:19]]
    assert rows["small"][-1] == "10B" and rows["busybox"][-1].endswith("MB")
    assert table[0].index("IMAGE ID") == table[1].index(table[1].split()[2])  # columns line up


def test_images_quiet_all_and_no_trunc(two, client):
    busybox, small = two
    layers = [small_layer("hello"), small_layer("world"), small_layer("hello")]
    add_layers(client, layers)
    child = client.images.images.add(image_config(layers), parent=small.id)
    client.images.images.remove("small:1")  # small is now an untagged parent: hidden without -a
    assert sorted(lines_of(run_cli("images", "-q"))) == sorted([busybox.id[7:19], child[7:19]])
    everything = lines_of(run_cli("images", "-aq"))
    assert sorted(everything) == sorted([busybox.id[7:19], child[7:19], small.id[7:19]])
    assert sorted(lines_of(run_cli("images", "--all", "--quiet", "--no-trunc"))) == \
        sorted([busybox.id, child, small.id])
    table = lines_of(run_cli("images", "-a", "--no-trunc"))
    assert any(r.split()[:3] == ["<none>", "<none>", small.id] for r in table[1:])


def test_images_digests_and_a_repository_filter(two, client):
    busybox, _ = two
    digest = "sha256:" + "d" * 64
    client.images.images.add_digest(busybox.id, f"docker.io/library/busybox@{digest}")
    table = lines_of(run_cli("images", "--digests"))
    assert re.fullmatch(r"REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE", table[0])
    rows = {r.split()[0]: r.split() for r in table[1:]}
    assert rows["busybox"][2] == digest and rows["small"][2] == "<none>"
    only = lines_of(run_cli("images", "busybox"))
    assert [r.split()[0] for r in only[1:]] == ["busybox"]


def test_images_format_plain_and_table(two):
    busybox, small = two
    table = lines_of(run_cli("images", "--format", r"table {{.Repository}}\t{{.Tag}}"))
    assert table[0] == "REPOSITORY   TAG"
    assert sorted(table[1:]) == ["busybox      latest", "small        1"]
    plain = lines_of(run_cli("images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"))
    assert sorted(plain) == sorted([f"{busybox.id[7:19]} busybox:latest", f"{small.id[7:19]} small:1"])


# -- tag and rmi ---------------------------------------------------------------------------

def test_tag_shows_in_images_with_the_short_form(small, client):
    assert run_cli("tag", "small:1", "docker.io/library/mine:v1").stdout == b""
    run_cli("tag", small.id[7:11], "localhost:5000/team/app", check=True)
    table = lines_of(run_cli("images"))
    assert {tuple(r.split()[:3]) for r in table[1:]} == {
        ("small", "1", small.id[7:19]), ("mine", "v1", small.id[7:19]),
        ("localhost:5000/team/app", "latest", small.id[7:19])}
    one_line_error(run_cli("tag", "nosuch", "x:y"), "No such image: nosuch")


def test_rmi_untags_then_deletes_with_docker_s_lines(small, client):
    small.tag("second", "2")
    assert lines_of(run_cli("rmi", "second:2")) == ["Untagged: second:2"]
    proc = run_cli("rmi", "small")  # small means small:latest
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("Error response from daemon: No such image: small")
    out = lines_of(run_cli("rmi", "small:1"))
    chains = [f"Deleted: {c}" for c in reversed(small.record.chain_ids)]
    assert out == ["Untagged: small:1", f"Deleted: {small.id}", *chains]
    assert client.images.list(all=True) == []


def test_rmi_of_several_images_reports_each_and_fails_for_the_missing(small, client):
    small.tag("second", "2")
    proc = run_cli("rmi", "nosuch", "second:2")
    assert proc.returncode == 1
    assert proc.stdout.decode() == "Untagged: second:2\n"
    assert proc.stderr.decode() == "Error response from daemon: No such image: nosuch\n"


def test_rmi_by_id_of_a_multiply_tagged_image_needs_force(small, client):
    small.tag("second", "2")
    proc = run_cli("rmi", small.id[7:19])
    assert proc.returncode == 1 and "must be forced" in proc.stderr.decode()
    assert lines_of(run_cli("rmi", "-f", small.id[7:19]))[:3] == \
        ["Untagged: second:2", "Untagged: small:1", f"Deleted: {small.id}"]


# -- history ---------------------------------------------------------------------------------

def test_history_of_a_loaded_image_shows_missing_below_the_top(client):
    layers = [small_layer("a"), small_layer("bb"), small_layer("ccc")]
    (image,) = client.images.load(docker_archive(layers, tags=["three:1"]))
    table = lines_of(run_cli("history", "three:1"))
    assert re.fullmatch(r"IMAGE +CREATED +CREATED BY +SIZE +COMMENT", table[0])
    assert [r.split()[0] for r in table[1:]] == [image.id[7:19], "<missing>", "<missing>"]
    assert [r.split()[-1] for r in table[1:]] == ["3B", "2B", "1B"]
    assert "/bin/sh -c step 2" in table[1]
    assert lines_of(run_cli("history", "-q", "three:1")) == [image.id[7:19], "<missing>", "<missing>"]
    assert lines_of(run_cli("history", "--no-trunc", "--quiet", "three:1"))[0] == image.id


def test_history_no_trunc_keeps_a_long_created_by(client):
    long = "/bin/sh -c " + "echo something quite long && " * 4
    add_layers(client, [small_layer()])
    client.images.images.add(image_config([small_layer()], history=[{"created_by": long}]), tags=["long:1"])
    short = lines_of(run_cli("history", "long:1"))[1]
    assert long not in short and "…" in short
    assert long.strip() in lines_of(run_cli("history", "--no-trunc", "long:1"))[1]


# -- inspect ---------------------------------------------------------------------------------

def test_inspect_prints_docker_s_image_inspect_json(busybox):
    (attrs,) = json.loads(output_of(run_cli("inspect", "busybox")))
    assert {"Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Config", "Architecture",
            "Os", "Size", "RootFS"} <= set(attrs)
    assert attrs["Id"] == busybox.id and attrs["RepoTags"] == ["busybox:latest"]
    assert attrs["Config"]["Cmd"] == ["sh"] and attrs["RootFS"]["Type"] == "layers"
    assert attrs["Config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_inspect_format(busybox):
    assert lines_of(run_cli("inspect", "--format", "{{.Id}}", "busybox", busybox.id[7:11])) == [busybox.id] * 2
    out = lines_of(run_cli("inspect", "-f", "{{ .Config.Cmd }}|{{json .Config.Cmd}}|{{.Os}}", "busybox"))
    assert out == ['[sh]|["sh"]|linux']


def test_inspect_of_a_missing_image_and_of_a_short_prefix(busybox):
    proc = run_cli("inspect", "nosuch", "busybox", busybox.id[7:10])
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == ["Error: No such object: nosuch",
                                                 f"Error: No such object: {busybox.id[7:10]}"]
    assert [a["Id"] for a in json.loads(proc.stdout)] == [busybox.id]


# -- the docker command-line grammar -------------------------------------------------------------

def test_joined_short_flag_value_through_a_real_shell(root, tmp_path):
    """The seed's ``minidock import -m="hello world" FILE x:y``: the shell eats the quotes.  The seed's
    "import from a directory" is not Docker's: a directory is refused with the docker CLI's error."""
    import tarfile
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("x")
    with tarfile.open(tmp_path / "rootfs.tar", "w") as tar:
        tar.add(tmp_path / "dir" / "f", "f")
    line = f'{shlex.quote(sys.executable)} -m minidock import -m="hello world" {tmp_path / "rootfs.tar"} x:y'
    proc = subprocess.run(["sh", "-c", line], cwd=REPO, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert lines_of(run_cli("inspect", "-f", "{{.Comment}}", "x:y")) == ["hello world"]
    proc = run_cli("import", str(tmp_path / "dir"), "x:z")
    assert proc.returncode == 1 and proc.stderr.decode().endswith(f"read {tmp_path / 'dir'}: is a directory\n")


def test_unknown_flags_and_wrong_argument_counts_exit_125(root):
    usage_error(run_cli("images", "--bogus"), "unknown flag: --bogus", "images")
    usage_error(run_cli("images", "-qz"), "unknown shorthand flag: 'z' in -z", "images")
    proc = run_cli("tag", "busybox")
    usage_error(proc, '"minidock tag" requires exactly 2 arguments.', "tag")
    assert "Usage:  minidock tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]" in proc.stderr.decode()
    usage_error(run_cli("history"), '"minidock history" requires exactly 1 argument.', "history")
    usage_error(run_cli("load", "extra"), '"minidock load" accepts no arguments.', "load")
    proc = run_cli("frobnicate")
    assert proc.returncode == 125 and "'frobnicate' is not a minidock command." in proc.stderr.decode()


def test_help_version_and_info(root):
    top = output_of(run_cli("--help"))
    for name in ["images", "tag", "rmi", "history", "inspect", "save", "load", "import", "info", "version",
                 "system", "bootstrap"]:
        assert re.search(rf"^  {name} +\S", top, re.M), name
    images_help = output_of(run_cli("images", "--help"))
    assert "Usage:  minidock images [OPTIONS] [REPOSITORY[:TAG]]" in images_help
    for flag in ["-a, --all", "--digests", "--format string", "--no-trunc", "-q, --quiet"]:
        assert flag in images_help
    assert lines_of(run_cli("-v")) == [f"minidock version {minidock.__version__}"]
    version = output_of(run_cli("version"))
    assert re.search(rf"^ Version: +{re.escape(minidock.__version__)}$", version, re.M)
    assert lines_of(run_cli("version", "--format", "{{.Server.Version}}")) == [minidock.__version__]
    info = output_of(run_cli("info"))
    assert f" DockerRootDir: {root}" in info.splitlines() and " Images: 0" in info.splitlines()
    assert lines_of(run_cli("info", "-f", "{{.Images}} {{.DockerRootDir}}")) == [f"0 {root}"]


def test_the_dispatch_table_names_the_module_of_every_command():
    """``minidock CMD`` imports only the module ``cli.MODULE_OF`` names: every command of
    every module under minidock/cli/ must be there, under its own module, and nothing else."""
    import importlib
    import pkgutil
    from minidock import cli
    from minidock.cli.base import COMMANDS

    for module in pkgutil.iter_modules(cli.__path__):
        importlib.import_module(f"{cli.__name__}.{module.name}")
    declared_in = {name: cmd.run.__module__.rpartition(".")[2] for name, cmd in COMMANDS.items()}
    assert {name: m for name, m in declared_in.items() if " " not in name} == cli.MODULE_OF
    for name, module in declared_in.items():  # a subcommand ("system df") comes with its parent
        assert module == cli.MODULE_OF[name.split()[0]], name


def test_a_command_imports_only_the_module_that_declares_it(root):
    """``-v`` loads no engine and no command; ``ps`` only the container commands."""
    def loaded(*args: str) -> list[str]:
        code = ("import sys; from minidock.cli import main; main(sys.argv[1:]); "
                "print(*sorted(m for m in sys.modules if m.startswith(('minidock.cli.', 'minidock.api.client'))))")
        return output_of(subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                                        cwd=REPO)).splitlines()[-1].split()

    assert loaded("-v") == ["minidock.cli.base", "minidock.cli.grammar"]
    assert loaded("ps") == ["minidock.api.client", "minidock.cli.base", "minidock.cli.containers", "minidock.cli.grammar"]


@pytest.mark.parametrize("hook", [False, True])
def test_the_program_exits_with_the_commands_status_and_runs_what_was_asked_to_run_at_exit(busybox, hook):
    """``program`` ends as any Python program does: the output is all there, atexit hooks run, and the
    exit status is the command's."""
    code = ("import atexit, sys; from minidock.cli import program; "
            + ("atexit.register(lambda: print('the hook ran', file=sys.stderr)); " if hook else "")
            + "sys.argv = ['minidock', *sys.argv[1:]]; program()")
    proc = subprocess.run([sys.executable, "-c", code, "images", "--format", "{{.Repository}}"],
                          capture_output=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.decode().split() == ["busybox"]
    assert proc.stderr.decode() == ("the hook ran\n" if hook else "")
    proc = subprocess.run([sys.executable, "-c", code, "inspect", "no-such-thing"], capture_output=True, cwd=REPO)
    assert proc.returncode == 1 and proc.stdout == b"[]\n"
    assert proc.stderr.decode().startswith("Error: No such object: no-such-thing\n")


def test_a_reader_that_stops_early_gets_no_complaint(busybox):
    """``minidock inspect ... | head -c 1``: the pipe closes under us (more than its 64 KiB buffer is
    written); no traceback, no BrokenPipeError line."""
    many = " ".join(["busybox"] * 200)
    proc = subprocess.run(f"{shlex.quote(sys.executable)} -m minidock inspect {many} | head -c 1",
                          shell=True, capture_output=True, cwd=REPO)
    assert proc.stderr == b"" and len(proc.stdout) == 1


# -- bootstrap --------------------------------------------------------------------------------------

def test_bootstrap_is_cached_and_its_layer_is_a_busybox_rootfs(root, tmp_path):
    first = lines_of(run_cli("bootstrap", "busybox"))
    again = lines_of(run_cli("bootstrap", "busybox"))
    assert re.fullmatch(r"Created: busybox:latest sha256:[0-9a-f]{64}", first[0])
    assert again == [first[0].replace("Created", "Exists")]
    archive = run_cli("save", "busybox", check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        (layer_name,) = manifest[0]["Layers"]
        with tarfile.open(fileobj=outer.extractfile(layer_name)) as layer:
            entries = {m.name: m for m in layer}
    assert entries["bin/busybox"].isreg() and entries["bin/busybox"].mode & 0o111
    assert entries["bin/sh"].issym() and entries["bin/sh"].linkname == "/bin/busybox"
    assert entries["etc/passwd"].isreg() and entries["etc/passwd"].uid == 0
    proc = run_cli("bootstrap", "alpine")
    assert proc.returncode == 125
    assert proc.stderr.decode().startswith('minidock: unknown base image "alpine": only "busybox" can be')


# -- system df and prune ---------------------------------------------------------------------------

def test_system_df_shows_shared_and_unique_sizes(busybox, client):
    base = stored_layer(client, busybox)
    client.images.load(docker_archive([base, small_layer("on top")], tags=["derived:1"]))
    table = lines_of(run_cli("system", "df"))
    assert re.fullmatch(r"TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE", table[0])
    assert table[1].split()[:3] == ["Images", "2", "0"]
    verbose = lines_of(run_cli("system", "df", "-v"))
    header = next(r for r in verbose if r.startswith("REPOSITORY"))
    assert re.fullmatch(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS", header)
    images = verbose[verbose.index(header) + 1:verbose.index("Containers space usage:")]
    rows = {r.split()[0]: r.split() for r in images if r.strip()}
    size = rows["busybox"][-4]
    assert rows["busybox"][-3:] == [size, "0B", "0"]
    assert rows["derived"][-3:] == [size, "6B", "0"]
    assert verbose[-1].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "SIZE", "CREATED", "STATUS", "NAMES"]
    assert table[2].split() == ["Containers", "0", "0", "0B", "0B"]  # no share of nothing


def test_system_prune_asks_first_then_removes_dangling_images(small, client):
    (dangling,) = client.images.load(docker_archive([small_layer("dangling")], tags=()))
    proc = run_cli("system", "prune", input=b"n\n")
    assert proc.returncode == 0 and "Are you sure you want to continue? [y/N]" in proc.stdout.decode()
    assert client.images.get(dangling.id)
    out = lines_of(run_cli("system", "prune", "-f"))
    assert out[0] == "Deleted Images:" and f"deleted: {dangling.id}" in out
    assert out[-1].startswith("Total reclaimed space: ")
    assert [i.tags for i in client.images.list(all=True)] == [["small:1"]]
    again = lines_of(run_cli("system", "prune", input=b"y\n"))
    assert again[-1].endswith("[y/N] Total reclaimed space: 0B")
    everything = lines_of(run_cli("system", "prune", "-a", "--force"))
    assert "untagged: small:1" in everything and f"deleted: {small.id}" in everything
    assert client.images.list(all=True) == [] and list(client.store.layers.iterdir()) == []


def test_image_prune_removes_dangling_images_and_with_a_all_unused_ones(busybox, client):
    client.images.load(docker_archive([small_layer("dangling")], tags=()))
    lines = lines_of(run_cli("image", "prune", "-f"))
    assert lines[0] == "Deleted Images:" and lines[-1].startswith("Total reclaimed space: ")
    assert [i.tags for i in client.images.list(all=True)] == [["busybox:latest"]]
    assert lines_of(run_cli("image", "prune", "-a", "-f"))[1] == "untagged: busybox:latest"
    assert client.images.list(all=True) == []
    assert one_line_error(run_cli("image", "ls"), "unknown command", code=125)


def test_images_filters_dangling_and_reference(two, client):
    busybox, small = two
    (first,) = client.images.load(docker_archive([small_layer("first")], tags=["dang:1"]))
    (second,) = client.images.load(docker_archive([small_layer("second")], tags=["dang:1"]))  # takes the tag
    assert lines_of(run_cli("images", "-q", "-f", "dangling=true")) == [first.id[7:19]]
    assert sorted(lines_of(run_cli("images", "-q", "--filter=dangling=false"))) == \
        sorted(i.id[7:19] for i in (busybox, small, second))
    named = lines_of(run_cli("images", "-f", "reference=dan*", "-f", "reference=busybox:lat*",
                             "--format", "{{.Repository}}:{{.Tag}}"))
    assert sorted(named) == ["busybox:latest", "dang:1"]
    assert lines_of(run_cli("images", "-f", "reference=nothing*")) == \
        ["REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"]
    for bad in ("dangling=maybe", "label=x", "dangling"):
        proc = run_cli("images", "-f", bad)
        assert proc.returncode == 125 and proc.stderr.count(b"\n") <= 2 and b"filter" in proc.stderr, proc.stderr
