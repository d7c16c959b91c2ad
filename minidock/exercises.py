"""The chapters' exercises, each with a checker that says what is right or wrong.

Every exercise is checked by one call, the chapter's name and the exercise's number::

    course.check("01-images", 3, client)                        # looks at the store
    course.check("01-images", 1, client, rows=3, images=1, tag="latest")   # and your answers

Keyword arguments are your answers: the notebook's check cell names them, set
to ``None`` for you to replace.  A checker looks at the real state (images,
layers, containers, the chapter's registry, files in the working directory)
and at your answers, and returns one line, a ``Verdict``::

    ✓ right: ...
    ✗ not yet: what is wrong, and a hint

A wrong or missing answer is never a traceback.  ``verdict.right`` is True or
False (the solutions in ``notebooks/solutions/`` assert it).  Adding an
exercise is one function under ``@exercise(chapter, number)`` that raises
``NotYet`` with a hint, or returns what was right.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from .client import Client
from .errors import MinidockError


class Verdict(str):
    """One line, "✓ right: ..." or "✗ not yet: ..."; shown as itself in a notebook."""

    def __new__(cls, right: bool, text: str):
        verdict = super().__new__(cls, ("✓ right: " if right else "✗ not yet: ") + text)
        verdict.right = right
        return verdict

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


class NotYet(Exception):
    """Raised by a checker: the message says what is wrong and hints at what to do."""


CHECKERS: dict[tuple[str, int], Callable[..., str]] = {}


def exercise(chapter: str, number: int):
    """Register the decorated function as the checker of ``chapter``'s exercise ``number``."""
    def register(checker):
        CHECKERS[chapter, number] = checker
        return checker
    return register


def check(chapter: str, number: int, client: Client, **answers) -> Verdict:
    """Check exercise ``number`` of ``chapter`` against the store of ``client`` and ``answers``."""
    checker = CHECKERS.get((chapter, number))
    if checker is None:
        known = sorted(n for c, n in CHECKERS if c == chapter)
        return Verdict(False, f"{chapter} has no exercise {number} (it has {known or 'none'})")
    names = list(inspect.signature(checker).parameters)[1:]
    unknown = sorted(set(answers) - set(names))
    if unknown:
        return Verdict(False, f"this exercise takes no answer {', '.join(unknown)}= (it takes "
                              f"{', '.join(n + '=' for n in names) or 'none'})")
    try:
        return Verdict(True, checker(client, **answers))
    except NotYet as wrong:
        return Verdict(False, str(wrong))
    except (MinidockError, OSError, ValueError, TypeError, KeyError) as error:
        return Verdict(False, f"{error} (a name or an answer of the wrong kind?)")


# -- helpers the checkers share --------------------------------------------------------------

def need(**answers) -> None:
    """Every answer given, or NotYet naming the missing ones."""
    missing = [name for name, value in answers.items() if value is None]
    if missing:
        raise NotYet(f"fill in your answer{'s' if len(missing) > 1 else ''} "
                     f"{', '.join(m + '=' for m in missing)} in the check cell")


def image_or_hint(client: Client, name: str, hint: str):
    """The image ``name``, or NotYet saying it is missing and how to make it."""
    try:
        return client.images.get(name)
    except MinidockError:
        raise NotYet(f"there is no image {name} yet: {hint}") from None


def container_or_hint(client: Client, name: str, hint: str):
    """The container ``name``, or NotYet saying it is missing."""
    try:
        return client.containers.get(name)
    except MinidockError:
        raise NotYet(f"there is no container {name}: {hint}") from None


def same_digest(answer, digest: str) -> bool:
    """Whether ``answer`` names ``digest``: the whole of it or its first 12 or more hex digits."""
    hex_answer = str(answer).strip().removeprefix("sha256:")
    return len(hex_answer) >= 12 and digest.removeprefix("sha256:").startswith(hex_answer)


def names(values) -> set[str]:
    """Answers like ``["lo"]`` or ``"lo eth0"`` as a set of words."""
    return set(values.split()) if isinstance(values, str) else {str(v) for v in values}


def containers_where(client: Client, test: Callable[[dict], bool]) -> list:
    """Every container (running or not) whose ``inspect`` passes ``test``."""
    return [c for c in client.containers.list(all=True) if test(c.attrs)]


def command_of(attrs: dict) -> str:
    return " ".join(attrs["Config"]["Cmd"] or [])


def top_layer_files(client: Client, image) -> set[str]:
    """Paths in the image's own (top) layer, as ``/etc/motd``."""
    top = client.store.layer_dir(image.record.chain_ids[-1]) / "diff"
    return {"/" + str(p.relative_to(top)) for p in top.rglob("*")}



# -- 00 setup ----------------------------------------------------------------------------------

@exercise("00-setup", 1)
def run_modes(client: Client, run_mode=None, rootless_lacks=None) -> str:
    """This machine's run mode, and what the rootless mode does not isolate or limit."""
    from .runtime.mode import ISOLATES
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


# -- 01 images ---------------------------------------------------------------------------------

@exercise("01-images", 1)
def two_more_names(client: Client, rows=None, images=None, tag=None) -> str:
    """Rows of `images` and objects of `images.list()` with three names; the default tag; then back to one name."""
    need(rows=rows, images=images, tag=tag)
    if rows != 3:
        raise NotYet(f"rows={rows}: `minidock images` prints one row per name (heading not counted)")
    if images != 1:
        raise NotYet(f"images={images}: client.images.list() returns one object per image ID")
    if str(tag).lstrip(":") != "latest":
        raise NotYet(f"tag={tag!r}: a name without a tag gets the default one")
    left = sorted(t for image in client.images.list() for t in image.tags)
    if left != ["busybox:latest"]:
        raise NotYet(f"the store still has {left}: rmi the names you added, by name")
    return "three rows, one image, myname/tools means myname/tools:latest; rmi of a name only untags"


@exercise("01-images", 2)
def birthday_bound(client: Client, n12=None, n16=None) -> str:
    """How many images before two 12- (16-) digit short IDs more likely than not collide."""
    from .digest import collision_probability
    need(n12=n12, n16=n16)
    for digits, n in ((12, n12), (16, n16)):
        if not collision_probability(max(int(n) // 2, 1), digits) < 0.5 <= collision_probability(int(n) * 2, digits):
            side = "too few" if collision_probability(int(n), digits) < 0.5 else "too many"
            raise NotYet(f"n{digits}={n:,} is {side}: look for the n where collision_probability(n, {digits}) "
                         "crosses 0.5 (within a factor of 2 is fine)")
    return f"about {n12:.2g} images for 12 digits, {n16:.2g} for 16: four more digits, 256 times more"


@exercise("01-images", 3)
def same_content_same_id(client: Client) -> str:
    """``copy:1`` imported from rootfs.tar.gz with busybox's very ID."""
    copy = image_or_hint(client, "copy:1", "import rootfs.tar.gz as copy:1")
    busybox = client.images.get("busybox")
    if copy.id == busybox.id:
        return "the same files, config and clock give the same ID: content addressing"
    ours, theirs = copy.attrs, busybox.attrs
    for field, flag in (("Cmd", "-c 'CMD ...'"), ("Env", "-c 'ENV ...'")):
        if ours["Config"][field] != theirs["Config"][field]:
            raise NotYet(f"copy:1's {field} is {ours['Config'][field]}, busybox's {theirs['Config'][field]}: "
                         f"give it with {flag}")
    if ours["Comment"] != theirs["Comment"]:
        raise NotYet(f"copy:1's comment is {ours['Comment']!r}, busybox's {theirs['Comment']!r}: -m sets it")
    raise NotYet("copy:1 has another ID: compare `minidock inspect busybox` with `minidock inspect copy:1`")


# -- 02 building images ------------------------------------------------------------------------

@exercise("02-building-images", 1)
def signed_commit(client: Client) -> str:
    """``mine:commit``: a container's /hello.txt committed with an author and a message."""
    image = image_or_hint(client, "mine:commit", "commit a container that wrote /hello.txt as mine:commit")
    attrs = image.attrs
    if not attrs["Author"] or not attrs["Comment"]:
        raise NotYet("mine:commit has no author or no message: commit with -a \"YOUR NAME\" and -m \"WHY\"")
    if "/hello.txt" not in top_layer_files(client, image):
        raise NotYet("mine:commit's own layer has no /hello.txt: write it in the container you commit")
    return f"by {attrs['Author']}, {attrs['Comment']!r}: who and why, but not how (that is the layer)"


@exercise("02-building-images", 2)
def three_layers(client: Client) -> str:
    """``three:1``, built from a Dockerfile FROM busybox, has exactly 3 filesystem layers."""
    image = image_or_hint(client, "three:1", "build a Dockerfile with -t three:1")
    layers = image.attrs["RootFS"]["Layers"]
    if layers[0] != client.images.get("busybox").attrs["RootFS"]["Layers"][0]:
        raise NotYet("three:1 is not built FROM busybox")
    if len(layers) != 3:
        raise NotYet(f"three:1 has {len(layers)} layers: busybox brings one, and only RUN, COPY and ADD "
                     "add one each (ENV, CMD, LABEL, ... change the config only)")
    steps = len(image.history())
    if steps == 3:
        raise NotYet("every step of three:1 added a layer: add one that changes only the config (ENV, LABEL, CMD)")
    return f"3 layers in {steps} steps: {steps - 3} of them changed the config only"


@exercise("02-building-images", 3)
def only_the_cmd(client: Client, cached=None) -> str:
    """``ouruser/sinatra:v5``: only the CMD changed; how many steps came from the cache."""
    v5 = image_or_hint(client, "ouruser/sinatra:v5", "change the Dockerfile's CMD, then build -t ouruser/sinatra:v5")
    v4 = client.images.get("ouruser/sinatra:v4")
    if v5.attrs["Config"]["Cmd"] == v4.attrs["Config"]["Cmd"]:
        raise NotYet("v5 runs the same CMD as v4: change the CMD line of sinatra/Dockerfile")
    if v5.attrs["RootFS"] != v4.attrs["RootFS"]:
        raise NotYet("v5's layers differ from v4's: change only the CMD line, nothing else")
    need(cached=cached)
    if cached != 5:
        raise NotYet(f"cached={cached}: count the 'Using cache' lines of your build (FROM has none)")
    return "5 steps from the cache, a new CMD step, the same 4 layers: a config change adds no layer"


# -- 03 union fs -------------------------------------------------------------------------------

@exercise("03-union-fs", 1)
def whiteout_of_your_own(client: Client) -> str:
    """``/etc/skel/.shrc`` deleted in ``box``: a whiteout in its upper layer."""
    box = container_or_hint(client, "box", "run the chapter from the top")
    if {"Path": "/etc/skel/.shrc", "Kind": 2} not in box.diff():
        raise NotYet("`minidock diff box` has no D /etc/skel/.shrc: delete it inside box with exec")
    return "D /etc/skel/.shrc: a whiteout in box's upper layer hides layer 2's file"


@exercise("03-union-fs", 2)
def price_of_copy_up(client: Client, upper_mb=None) -> str:
    """A container that appended to a 20 MB file of its image: its upper layer's size."""
    def appended(attrs):
        big = Path(attrs["GraphDriver"]["Data"]["UpperDir"]) / "big"
        return big.is_file() and big.stat().st_size > 20 << 20
    found = containers_where(client, appended)
    if not found:
        raise NotYet("no container has a changed /big in its upper layer: commit an image with a 20 MB /big, "
                     "then append a byte to it in a new container")
    need(upper_mb=upper_mb)
    upper = Path(found[0].attrs["GraphDriver"]["Data"]["UpperDir"])
    size = sum(p.lstat().st_size for p in upper.rglob("*")) / (1 << 20)
    if abs(upper_mb - size) > max(2, size / 10):
        raise NotYet(f"upper_mb={upper_mb}: measure it (du -sm on UpperDir, or `minidock ps -s`)")
    return f"{size:.0f} MB for one byte: copy-up copies the whole file (metacopy would copy its metadata only)"


@exercise("03-union-fs", 3)
def opaque_by_hand(client: Client, with_xattr=None, without_xattr=None) -> str:
    """What ``ls merged/docs`` showed with an opaque upper ``docs``, and without."""
    if not Path("cd/docs").is_dir():
        raise NotYet("there is no cd/docs in the scratch directory: make it with two files, as section 1")
    need(with_xattr=with_xattr, without_xattr=without_xattr)
    lower = set(os.listdir("cd/docs"))
    if names(with_xattr):
        raise NotYet(f"with_xattr={with_xattr}: an opaque directory hides every name of the layers below")
    if names(without_xattr) != lower:
        raise NotYet(f"without_xattr={without_xattr}: without the xattr, directories merge: cd/docs holds {sorted(lower)}")
    return "opaque: nothing from below; plain: the lower files merged in"


@exercise("03-union-fs", 4)
def which_layer_deleted(client: Client, diff_id=None) -> str:
    """The DiffID of the layer of ``demo:2`` whose whiteout hides ``/etc/demo.conf``."""
    from .unionfs import UnionView
    demo = image_or_hint(client, "demo:2", "run the chapter from the top")
    need(diff_id=diff_id)
    view = UnionView([client.store.layer_dir(c) / "diff" for c in demo.record.chain_ids])
    kind, layer = view.hidden_by("/etc/demo.conf")
    wanted = demo.attrs["RootFS"]["Layers"][layer]
    if not same_digest(diff_id, wanted):
        raise NotYet(f"{str(diff_id)[:19]} did not delete /etc/demo.conf: look for the {kind} with "
                     "UnionView.hidden_by, then the layer's DiffID in RootFS.Layers")
    return f"layer {layer}, {wanted[:19]}: its {kind} hides the file of the layer below"


# -- 04 containers -----------------------------------------------------------------------------

@exercise("04-containers", 1)
def no_network(client: Client, interfaces=None, skipped=None) -> str:
    """A container run with ``--network none``: its interfaces, and which steps of `run` it skipped."""
    if not containers_where(client, lambda a: a["HostConfig"]["NetworkMode"] == "none"):
        raise NotYet("no container here was run with --network none")
    need(interfaces=interfaces, skipped=skipped)
    if names(interfaces) != {"lo"}:
        raise NotYet(f"interfaces={interfaces}: list the names `ip addr` printed inside (without the numbers)")
    if {int(step) for step in skipped} != {4, 5}:
        raise NotYet(f"skipped={skipped}: which of section 3's steps 1-7 are about the network?")
    return "only lo: no veth bridged in (step 4), no address from the pool (step 5)"


@exercise("04-containers", 2)
def tty_without_stdin(client: Client) -> str:
    """Two containers of ``sh``: one with ``-t`` only, one with ``-i`` only."""
    t_only = containers_where(client, lambda a: a["Config"]["Tty"] and not a["Config"]["OpenStdin"])
    i_only = containers_where(client, lambda a: a["Config"]["OpenStdin"] and not a["Config"]["Tty"])
    if not t_only or not i_only:
        raise NotYet(f"found {len(t_only)} container(s) with -t only and {len(i_only)} with -i only: "
                     "run `busybox sh` once with each (and no --rm, so that they stay)")
    return "-t alone: a prompt nobody can type to; -i alone: input without a terminal (no prompt)"


@exercise("04-containers", 3)
def clean_stop(client: Client) -> str:
    """A web server whose first process traps SIGTERM, stopped: exit code 0."""
    trapped = containers_where(client, lambda a: "trap" in command_of(a) and "httpd" in command_of(a))
    if not trapped:
        raise NotYet("no container runs a shell with `trap 'exit 0' TERM` and httpd")
    attrs = trapped[0].attrs
    if attrs["State"]["Running"]:
        raise NotYet(f"{attrs['Name'][1:]} is still running: `minidock stop` it")
    if attrs["State"]["ExitCode"] != 0:
        raise NotYet(f"{attrs['Name'][1:]} exited with {attrs['State']['ExitCode']}: was it killed? The shell must "
                     "not exec httpd (then httpd is PID 1), and must `wait` for it so the trap can run")
    return "Exited (0) at once: a PID 1 that handles SIGTERM needs no SIGKILL"


# -- 05 entering containers ---------------------------------------------------------------------

@exercise("05-entering-containers", 1)
def other_detach_keys(client: Client, ctrl_p_ctrl_q_detaches=None) -> str:
    """A -dit shell left running after detaching with other keys; what Ctrl+P Ctrl+Q do then."""
    if not containers_where(client, lambda a: a["State"]["Running"] and a["Config"]["Tty"]):
        raise NotYet("no container with a terminal is running: start one with -dit and detach with ctrl-x,x")
    need(ctrl_p_ctrl_q_detaches=ctrl_p_ctrl_q_detaches)
    if ctrl_p_ctrl_q_detaches is not False:
        raise NotYet("with --detach-keys ctrl-x,x, do Ctrl+P Ctrl+Q still detach? Try it and read `ps`")
    return "Ctrl+P Ctrl+Q go to the shell as two characters; only Ctrl+X x detaches"


@exercise("05-entering-containers", 2)
def one_namespace_at_a_time(client: Client, hostname=None, addresses=None) -> str:
    """`nsenter --uts hostname` and `nsenter --net ip addr` into ``box``."""
    box = container_or_hint(client, "box", "run the chapter from the top")
    need(hostname=hostname, addresses=addresses)
    if hostname != box.attrs["Config"]["Hostname"]:
        raise NotYet(f"hostname={hostname!r}: the UTS namespace holds the host name; which did --uts show?")
    wanted = {"127.0.0.1", box.attrs["NetworkSettings"]["IPAddress"]}
    if {a.split("/")[0] for a in names(addresses)} != wanted:
        raise NotYet(f"addresses={addresses}: give every IPv4 address (inet lines) `nsenter --net ip addr` printed")
    return f"box's host name, and box's addresses {sorted(wanted)} seen from the host's tools"


@exercise("05-entering-containers", 3)
def privileges(client: Client, missing=None) -> str:
    """The capabilities `exec` leaves out that `nsenter` keeps."""
    from .runtime.syscalls import CAPABILITIES
    box = container_or_hint(client, "box", "run the chapter from the top")
    need(missing=missing)

    def effective(status: str) -> set[str]:
        mask = int(re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1), 16)
        return {name for name, bit in CAPABILITIES.items() if mask >> bit & 1}
    host = effective(Path("/proc/self/status").read_text())
    inside = effective(box.exec_run("cat /proc/self/status").output.decode())
    wanted = host - inside
    given = {name.upper().removeprefix("CAP_") for name in names(missing)}
    if given != wanted:
        extra, lacking = sorted(given - wanted), sorted(wanted - given)
        raise NotYet(f"not quite: {len(wanted)} are left out; "
                     + (f"these are kept or unknown: {extra}; " if extra else "")
                     + (f"{len(lacking)} more are missing from your list (capsh --decode)" if lacking else ""))
    return f"exec drops {len(wanted)} capabilities (SYS_ADMIN among them); nsenter keeps root's all"


# -- 06 export/import versus save/load ----------------------------------------------------------

@exercise("06-export-import-vs-save-load", 1)
def import_with_changes(client: Client) -> str:
    """``mine:flat``, imported from snapshot.tar with a CMD and an ENV."""
    image = image_or_hint(client, "mine:flat", "import snapshot.tar as mine:flat")
    config = image.attrs["Config"]
    if config["Cmd"] != ["cat", "/hello.txt"]:
        raise NotYet(f"mine:flat's CMD is {config['Cmd']}: -c 'CMD [\"cat\", \"/hello.txt\"]'")
    if "GREETING=hi" not in (config["Env"] or []):
        raise NotYet(f"mine:flat's Env is {config['Env']}: -c 'ENV GREETING=hi'")
    if len(image.attrs["RootFS"]["Layers"]) != 1:
        raise NotYet("mine:flat has more than one layer: import the export, do not load the save")
    return "one layer, a CMD and an ENV given back by -c: what import can restore, it restores this way"


@exercise("06-export-import-vs-save-load", 2)
def what_save_holds(client: Client, layers=None, has_busybox_layer=None, archive="hello.tar") -> str:
    """``hello.tar``: a save of busybox:hello alone; how many layer tars, and busybox's among them?"""
    if not Path(archive).is_file():
        raise NotYet(f"there is no {archive} here: minidock save -o {archive} busybox:hello")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    if [m["RepoTags"] for m in manifest] != [["busybox:hello"]]:
        raise NotYet(f"{archive} holds {[m['RepoTags'] for m in manifest]}: save busybox:hello alone")
    need(layers=layers, has_busybox_layer=has_busybox_layer)
    count = len(manifest[0]["Layers"])
    if layers != count or has_busybox_layer is not True:
        raise NotYet("not quite: an image is every layer below it too; count the Layers of manifest.json")
    return f"{count} layers, busybox's included: a saved image can be loaded where busybox is not"


# -- 07 registries -----------------------------------------------------------------------------

def registry_tags(client: Client) -> dict[str, object]:
    """``{"repo:tag": Tagged}`` of the chapter's registry (``$REGISTRY``)."""
    from .viz.registry import registry_contents
    address = os.environ.get("REGISTRY")
    if not address:
        raise NotYet("no registry: run `registry = course.registry(client)` first")
    return {f"{t.repository}:{t.tag}": t for t in registry_contents(address)}


@exercise("07-registry", 1)
def push_again(client: Client, sent=None) -> str:
    """``ouruser/sinatra:latest`` pushed: the same manifest as v2; how many layers were sent."""
    tags = registry_tags(client)
    if "ouruser/sinatra:latest" not in tags:
        raise NotYet("the registry has no ouruser/sinatra:latest: tag $REGISTRY/ouruser/sinatra:v2 so, and push")
    if tags["ouruser/sinatra:latest"].manifest != tags["ouruser/sinatra:v2"].manifest:
        raise NotYet("latest names another manifest than v2: tag the v2 image, not another")
    need(sent=sent)
    if sent != 0:
        raise NotYet(f"sent={sent}: what did the push say about each layer?")
    return "nothing sent: the same image is the same manifest, and the registry has all its blobs"


@exercise("07-registry", 2)
def one_more_layer(client: Client, sent=None) -> str:
    """``ouruser/sinatra:v3``: v2 and one more layer, pushed; how many layers were sent."""
    tags = registry_tags(client)
    if "ouruser/sinatra:v3" not in tags:
        raise NotYet("the registry has no ouruser/sinatra:v3: commit a container of v2 as $REGISTRY/ouruser/sinatra:v3, push it")
    v2, v3 = tags["ouruser/sinatra:v2"].layers, tags["ouruser/sinatra:v3"].layers
    if v3[:-1] != v2 or len(v3) != len(v2) + 1:
        raise NotYet(f"v3 has {len(v3)} layers: it should be v2's {len(v2)} and one more (commit a container of v2)")
    need(sent=sent)
    if sent != 1:
        raise NotYet(f"sent={sent}: count the 'Pushed' lines")
    return "one layer sent, two already there: layers travel once"


# -- 08 cleaning up ----------------------------------------------------------------------------

@exercise("08-cleaning-up", 1)
def stop_then_rm(client: Client, plain_exit=None, trap_exit=None) -> str:
    """The exit codes `ps -a` showed after `stop`: sleep as PID 1, then a shell that traps TERM."""
    left = [c.name for c in client.containers.list(all=True)]
    if left:
        raise NotYet(f"containers are left: {left}; rm them after stop")
    need(plain_exit=plain_exit, trap_exit=trap_exit)
    if plain_exit != 137:
        raise NotYet(f"plain_exit={plain_exit}: sleep ignores SIGTERM as PID 1, so what did stop send after 10 s?")
    if trap_exit != 0:
        raise NotYet(f"trap_exit={trap_exit}: what does `trap 'exit 0' TERM` exit with?")
    return "137 = 128 + SIGKILL once stop has waited; 0 at once when PID 1 handles SIGTERM"


@exercise("08-cleaning-up", 2)
def child_first(client: Client, order=None) -> str:
    """``base:1`` and ``child:1`` removed for good, in the right order."""
    need(order=order)
    present = [name for name in ("base:1", "child:1") if client.images.list(name)]
    if present:
        raise NotYet(f"{present} still here: remove them for good")
    busybox = image_or_hint(client, "busybox", "the chapter's first line makes it")
    if any(image.id != busybox.id for image in client.images.list(all=True)):
        raise NotYet("an image without a name is still here (an untagged base:1?): remove the child first, then base:1")
    if [str(name).split(":")[0] for name in order] != ["child", "base"]:
        raise NotYet(f"order={order}: base:1's layer is under child:1's; which can go first?")
    return "the child first: an image another image is built on stays as long as its child"


@exercise("08-cleaning-up", 3)
def rebuild_leftovers(client: Client, dangling=None) -> str:
    """Five commits under ``myapp:dev``: how many dangling images, pruned."""
    image_or_hint(client, "myapp:dev", "commit five versions as myapp:dev")
    need(dangling=dangling)
    if dangling != 4:
        raise NotYet(f"dangling={dangling}: the tag moves at each commit; how many images lose it?")
    named = [image for image in client.images.list() if not image.tags]
    if named:
        raise NotYet(f"{len(named)} <none> images are still here: minidock system prune -f")
    return "four <none> images, one per old version, gone with prune"
