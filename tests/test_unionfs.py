"""Union FS: the pure-Python view, copy-up, whiteouts, docker diff, flatten, and a real overlay mount that agrees."""

from __future__ import annotations

import errno
import io
import os
import random
import shutil
import stat
from pathlib import Path

import pytest

from archives import entry, tar_of
from minidock.containers import unionfs
from minidock.images.layer import apply_layer_tar, write_layer_tar
from minidock.runtime.overlay import MountError, mounted, overlay_options, overlay_supported
from minidock.containers.unionfs import Provenance, UnionView, changes

IS_ROOT = os.geteuid() == 0
T1 = 1_600_000_100  # layer 1's directories get their own mtime, so a flattened tree shows whose mode and mtime won

# layer 0: a small root file system
LAYER0 = tar_of(
    entry("bin/", kind="dir"),
    entry("bin/busybox", b"\x7fELF busybox\n", mode=0o755),
    entry("bin/ash", kind="hardlink", linkname="bin/busybox"),
    entry("bin/sh", kind="symlink", linkname="/bin/busybox"),
    entry("etc/", kind="dir"),
    entry("etc/motd", b"welcome\n"),
    entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
    entry("opt/", kind="dir", mode=0o711),
    entry("opt/a/", kind="dir"),
    entry("opt/a/x", b"x\n"),
    entry("var/", kind="dir"),
    entry("var/cache/", kind="dir"),
    entry("var/cache/apt", b"cache\n"),
)
# layer 1: deletes /etc/motd and /var/cache, makes /opt/a opaque with /opt/a/y, changes /etc/passwd
PASSWD1 = b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
LAYER1 = tar_of(
    entry("etc/", kind="dir", mtime=T1),
    entry("etc/.wh.motd"),
    entry("etc/passwd", PASSWD1, mode=0o600),
    entry("opt/", kind="dir", mode=0o711, mtime=T1),
    entry("opt/a/", kind="dir", mode=0o750, mtime=T1),
    entry("opt/a/.wh..wh..opq"),
    entry("opt/a/y", b"y\n"),
    entry("usr/", kind="dir", mtime=T1),
    entry("usr/new", b"new\n"),
    entry("var/", kind="dir", mtime=T1),
    entry("var/.wh.cache"),
)
VISIBLE = ["/bin", "/bin/ash", "/bin/busybox", "/bin/sh", "/etc", "/etc/passwd", "/opt", "/opt/a", "/opt/a/y",
           "/usr", "/usr/new", "/var"]
FORMS = [pytest.param("overlay", marks=pytest.mark.root), "keep"]


# -- helpers ----------------------------------------------------------------

def make_layers(base: Path, form: str, tars=(LAYER0, LAYER1)) -> list[Path]:
    """Layer diff dirs, bottom first, extracted as image.py does (whiteouts in `form`)."""
    dirs = []
    for i, data in enumerate(tars):
        dirs.append(base / "layers" / str(i) / "diff")
        apply_layer_tar(io.BytesIO(data), dirs[-1], whiteouts=form, xattr_prefix="trusted")
    return dirs


@pytest.fixture(params=FORMS)
def layers(tmp_path, request) -> list[Path]:
    return make_layers(tmp_path, request.param)


@pytest.fixture
def upper(tmp_path) -> Path:
    return new_dirs(tmp_path, "upper")[0]


def describe(path: Path) -> tuple:
    """What a process sees of one entry: type, mode, owner, whole-second mtime, and bytes or link target."""
    st = os.lstat(path)
    body = path.read_bytes() if stat.S_ISREG(st.st_mode) else (
        os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime), body


def disk_tree(root: Path) -> dict[str, tuple]:
    """Every entry below a real directory (a mount, a flattened tree), keyed "/etc/passwd"."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            found["/" + str(path.relative_to(root))] = describe(path)
    return found


def view_tree(view: UnionView) -> dict[str, tuple]:
    """The same, as the pure-Python view says it."""
    return {p.path: describe(view.real_path(p.path)) for p in view.walk()}


def snapshot(dirs: list[Path]) -> dict:
    """Everything in some layer dirs, markers and xattrs included, to prove they did not change."""
    return {str(d): {p: describe(d / p.lstrip("/")) + (_xattrs(d / p.lstrip("/")),) for p in disk_tree(d)}
            for d in dirs}


def _xattrs(path: Path) -> dict:
    return {k: os.getxattr(path, k, follow_symlinks=False) for k in os.listxattr(path, follow_symlinks=False)}


def our_mounts(tmp_path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(tmp_path) in line]


def new_dirs(base: Path, *names: str) -> list[Path]:
    for name in names:
        (base / name).mkdir(parents=True, exist_ok=True)
    return [base / name for name in names]


@pytest.fixture
def mount_dirs(tmp_path):
    """upper, work and target for a real mount; afterwards, no mount of ours may be left."""
    yield new_dirs(tmp_path, "upper", "work", "mnt")
    assert our_mounts(tmp_path) == []


# -- looking ------------------------------------------------------------------

def test_lookup_says_which_layer_supplies_a_path_and_which_it_shadows(layers):
    view = UnionView(layers)
    assert view.lookup("/etc/passwd") == Provenance("/etc/passwd", 1, "file", shadows=(0,))
    assert view.lookup("/etc") == Provenance("/etc", 1, "dir", merged=(0,))
    assert view.lookup("/bin/sh") == Provenance("/bin/sh", 0, "symlink")
    assert view.lookup("/opt/a") == Provenance("/opt/a", 1, "dir", shadows=(0,))  # opaque: nothing merges
    assert view.lookup("/opt/a/y") == Provenance("/opt/a/y", 1, "file")
    assert view.lookup("/usr/new").in_upper is False
    assert view.lookup("/") == Provenance("/", 1, "dir", merged=(0,))
    for gone in ("/etc/motd", "/opt/a/x", "/var/cache", "/var/cache/apt", "/nope", "/etc/.wh.motd", "/etc/passwd/x"):
        assert view.lookup(gone) is None, gone


def test_hidden_by_names_the_whiteout_or_opaque_directory(layers):
    view = UnionView(layers)
    assert view.hidden_by("/etc/motd") == ("whiteout", 1)
    assert view.hidden_by("/var/cache/apt") == ("whiteout", 1)  # under a whited-out directory
    assert view.hidden_by("/opt/a/x") == ("opaque", 1)
    assert view.hidden_by("/etc/passwd") is None  # visible
    assert view.hidden_by("/etc/nope") is None    # in no layer at all
    assert view.hidden_by("/opt/a/nope") is None


def test_paths_are_cleaned_like_the_kernel_does(layers):
    view = UnionView(layers)
    assert view.lookup("etc//./passwd").path == "/etc/passwd"
    assert view.lookup("/../../etc/passwd").path == "/etc/passwd"


def test_listdir_merges_the_layers_and_leaves_out_what_is_hidden(layers):
    view = UnionView(layers)
    assert view.listdir() == ["bin", "etc", "opt", "usr", "var"]
    assert view.listdir("/etc") == ["passwd"]
    assert view.listdir("/opt/a") == ["y"]
    assert view.listdir("/var") == []
    with pytest.raises(NotADirectoryError):
        view.listdir("/etc/passwd")
    with pytest.raises(FileNotFoundError):
        view.listdir("/var/cache")


def test_walk_yields_every_visible_path_sorted_depth_first(layers):
    walked = list(UnionView(layers).walk())
    assert [p.path for p in walked] == VISIBLE
    assert {p.path: p.layer for p in walked}["/bin/ash"] == 0


def test_open_reads_the_visible_copy_and_follows_symlinks_inside_the_view(layers):
    view = UnionView(layers)
    with view.open("/etc/passwd") as f:
        assert f.read() == PASSWD1
    with view.open("/bin/sh") as f:  # -> /bin/busybox of the image, never the host's
        assert f.read() == b"\x7fELF busybox\n"
    with pytest.raises(FileNotFoundError):
        view.open("/etc/motd")
    with pytest.raises(IsADirectoryError):
        view.open("/etc")
    assert view.real_path("/etc/passwd") == layers[1] / "etc" / "passwd"
    assert view.real_path("/bin/sh") == layers[0] / "bin" / "sh"
    assert view.real_path("/etc/motd") is None


# -- copy-up ------------------------------------------------------------------

def test_write_copies_up_with_modes_and_leaves_the_layers_untouched(layers, upper):
    view, before = UnionView(layers, upper), snapshot(layers)
    view.write("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    view.write("/opt/a/z", b"z\n")
    assert snapshot(layers) == before  # byte for byte, markers and xattrs included
    assert (upper / "etc" / "passwd").read_bytes() == b"root:x:0:0::/root:/bin/sh\n"
    assert stat.S_IMODE(os.stat(upper / "etc" / "passwd").st_mode) == 0o600  # layer 1's mode, copied up
    assert stat.S_IMODE(os.stat(upper / "opt").st_mode) == 0o711            # parents copied up with theirs
    assert stat.S_IMODE(os.stat(upper / "opt" / "a").st_mode) == 0o750
    assert view.lookup("/etc/passwd") == Provenance("/etc/passwd", None, "file", shadows=(0, 1))
    assert view.lookup("/etc") == Provenance("/etc", None, "dir", merged=(0, 1))
    assert view.listdir("/opt/a") == ["y", "z"]  # the copied-up directory still merges with layer 1's


def test_write_through_a_symlink_lands_on_its_target(layers, upper):
    view = UnionView(layers, upper)
    view.write("/bin/sh", b"new shell\n")
    assert view.lookup("/bin/sh").layer == 0  # the link itself is untouched
    assert view.lookup("/bin/busybox").in_upper
    with view.open("/bin/busybox") as f:
        assert f.read() == b"new shell\n"


def test_write_brings_back_a_deleted_name_and_needs_its_directory(layers, upper):
    view = UnionView(layers, upper)
    view.write("/etc/motd", b"back\n")
    assert view.lookup("/etc/motd") == Provenance("/etc/motd", None, "file", shadows=(0,))
    with pytest.raises(FileNotFoundError):
        view.write("/srv/f", b"")
    with pytest.raises(IsADirectoryError):
        view.write("/etc", b"")
    with pytest.raises(ValueError, match="no upper layer"):
        UnionView(layers).write("/etc/passwd", b"")


@pytest.mark.parametrize("as_root", [pytest.param(True, marks=pytest.mark.root), False])
def test_remove_records_a_whiteout_in_the_form_we_may_create(layers, upper, monkeypatch, as_root):
    monkeypatch.setattr(unionfs, "_is_root", lambda: as_root)
    view = UnionView(layers, upper)
    view.remove("/etc/passwd")
    view.remove("/opt")
    assert view.lookup("/etc/passwd") is None and view.lookup("/opt/a/y") is None
    assert view.hidden_by("/etc/passwd") == ("whiteout", None)
    assert view.hidden_by("/opt/a/y") == ("whiteout", None)
    assert view.listdir() == ["bin", "etc", "usr", "var"]
    if as_root:
        assert os.lstat(upper / "etc" / "passwd").st_rdev == 0
        assert stat.S_ISCHR(os.lstat(upper / "etc" / "passwd").st_mode)
    else:
        assert (upper / "etc" / ".wh.passwd").is_file() and not (upper / "etc" / "passwd").exists()


def test_removing_a_file_only_the_upper_layer_has_leaves_no_whiteout(layers, upper):
    view = UnionView(layers, upper)
    view.write("/etc/hosts", b"127.0.0.1 localhost\n")
    view.remove("/etc/hosts")
    assert os.listdir(upper / "etc") == []
    with pytest.raises(FileNotFoundError):
        view.remove("/etc/motd")


# -- docker diff and flatten --------------------------------------------------

@pytest.mark.parametrize("as_root", [pytest.param(True, marks=pytest.mark.root), False])
def test_changes_reports_what_the_upper_layer_adds_changes_and_deletes(layers, upper, monkeypatch, as_root):
    monkeypatch.setattr(unionfs, "_is_root", lambda: as_root)
    view = UnionView(layers, upper)
    assert changes(view) == [] and changes(UnionView(layers)) == []
    view.write("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    view.remove("/usr/new")
    view.remove("/opt/a/y")
    view.write("/opt/a/z", b"z\n")
    assert changes(view) == [("C", "/etc"), ("C", "/etc/passwd"), ("C", "/opt"), ("C", "/opt/a"),
                             ("D", "/opt/a/y"), ("A", "/opt/a/z"), ("C", "/usr"), ("D", "/usr/new")]


def flatten_by_applying(tars: list[bytes], dest: Path) -> Path:
    """The reference: every layer tar applied in order to one tree, whiteouts deleting what they hide."""
    for data in tars:
        apply_layer_tar(io.BytesIO(data), dest, whiteouts="apply")
    return dest


def test_flatten_equals_applying_every_layer_tar_in_order(layers, tmp_path):
    UnionView(layers).flatten(tmp_path / "flat")
    expected = disk_tree(flatten_by_applying([LAYER0, LAYER1], tmp_path / "applied"))
    assert disk_tree(tmp_path / "flat") == expected
    assert sorted(expected) == VISIBLE
    ash, busybox = os.stat(tmp_path / "flat" / "bin" / "ash"), os.stat(tmp_path / "flat" / "bin" / "busybox")
    assert ash.st_ino == busybox.st_ino  # a hard link within a layer stays one


def test_flatten_with_an_upper_layer_equals_committing_it_as_a_layer(layers, upper, tmp_path):
    view = UnionView(layers, upper)
    view.write("/etc/motd", b"back\n")
    view.write("/opt/a/z", b"z\n")
    view.remove("/usr")
    view.remove("/bin/ash")
    commit = io.BytesIO()
    write_layer_tar(upper, commit)  # docker commit: the upper layer as a layer tar
    view.flatten(tmp_path / "flat")
    expected = disk_tree(flatten_by_applying([LAYER0, LAYER1, commit.getvalue()], tmp_path / "applied"))
    assert disk_tree(tmp_path / "flat") == expected
    assert "/usr" not in expected and expected["/etc/motd"][-1] == b"back\n"


# -- a real overlay mount -----------------------------------------------------

def test_overlay_options_put_the_top_layer_first_and_escape_separators():
    data = overlay_options([Path("/l/0"), Path("/l/1:x,y")], Path("/c/upper"), Path("/c/work"), userxattr=True)
    assert data == r"lowerdir=/l/1\:x\,y:/l/0,upperdir=/c/upper,workdir=/c/work,userxattr"
    assert overlay_options([Path("a")], Path("u"), Path("w")) == "lowerdir=a,upperdir=u,workdir=w"


def test_options_longer_than_a_page_even_when_relative_are_refused_before_mounting(tmp_path):
    lowers = [tmp_path / "layers" / f"{i:03d}{'x' * 61}" for i in range(100)]  # 6.5 KB even relative
    with pytest.raises(MountError) as err:
        with mounted(lowers, tmp_path / "upper", tmp_path / "work", tmp_path / "mnt"):
            pass
    assert err.value.errno == errno.E2BIG and "one page" in str(err.value)
    assert our_mounts(tmp_path) == []


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_overlay_is_supported_here_as_root():
    assert overlay_supported()


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_a_real_overlay_mount_shows_exactly_what_the_view_says(tmp_path, mount_dirs):
    layers = make_layers(tmp_path, "overlay")  # the kernel reads only its own form of whiteouts
    with mounted(layers, *mount_dirs) as mnt:
        assert disk_tree(mnt) == view_tree(UnionView(layers))
        assert sorted(disk_tree(mnt)) == VISIBLE


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_writes_through_the_mount_land_in_upper_and_the_view_and_diff_agree(tmp_path, mount_dirs):
    layers = make_layers(tmp_path, "overlay")
    upper, work, target = mount_dirs
    before = snapshot(layers)
    with mounted(layers, upper, work, target) as mnt:
        with open(mnt / "etc" / "passwd", "ab") as f:
            f.write(b"guest:x:1001:1001::/:/bin/sh\n")
        os.unlink(mnt / "usr" / "new")
        shutil.rmtree(mnt / "opt" / "a")
        os.mkdir(mnt / "opt" / "a")
        (mnt / "opt" / "a" / "z").write_bytes(b"z\n")
        os.mkdir(mnt / "srv")
        (mnt / "srv" / "f").write_bytes(b"f\n")
        os.chmod(mnt / "var", 0o700)
        os.unlink(mnt / "bin" / "sh")
        os.symlink("busybox", mnt / "bin" / "sh")
        mounted_view = disk_tree(mnt)
    assert snapshot(layers) == before
    # the kernel wrote its own markers: a 0/0 char device and an opaque xattr
    assert stat.S_ISCHR(os.lstat(upper / "usr" / "new").st_mode) and os.lstat(upper / "usr" / "new").st_rdev == 0
    assert os.getxattr(upper / "opt" / "a", "trusted.overlay.opaque") == b"y"
    view = UnionView(layers, upper)
    assert view_tree(view) == mounted_view
    assert view.lookup("/opt/a") == Provenance("/opt/a", None, "dir", shadows=(0, 1))
    assert changes(view) == [("C", "/bin"), ("C", "/bin/sh"), ("C", "/etc"), ("C", "/etc/passwd"),
                             ("C", "/opt"), ("C", "/opt/a"), ("D", "/opt/a/y"), ("A", "/opt/a/z"),
                             ("A", "/srv"), ("A", "/srv/f"), ("C", "/usr"), ("D", "/usr/new"), ("C", "/var")]
    with mounted(layers, upper, work, target, readonly=True) as mnt:  # mounted again over the same upper
        assert disk_tree(mnt) == mounted_view
        with pytest.raises(OSError) as err:
            (mnt / "etc" / "new").write_bytes(b"")
        assert err.value.errno == errno.EROFS


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_a_view_written_in_python_mounts_as_the_kernel_would_show_it(tmp_path, mount_dirs):
    layers = make_layers(tmp_path, "overlay")
    upper, work, target = mount_dirs
    view = UnionView(layers, upper)
    view.write("/etc/motd", b"back\n")
    view.write("/opt/a/z", b"z\n")
    view.remove("/usr")
    view.remove("/bin/busybox")
    with mounted(layers, upper, work, target) as mnt:
        assert disk_tree(mnt) == view_tree(view)


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_a_deep_stack_is_mounted_with_paths_relative_to_the_layers(tmp_path, mount_dirs):
    lowers = [tmp_path / "layers" / f"{i:03d}{'x' * 61}" for i in range(45)]
    for i, d in enumerate(lowers):
        d.mkdir(parents=True)
        (d / f"f{i:03d}").write_text(str(i))
    assert len(overlay_options(lowers, *mount_dirs[:2])) > os.sysconf("SC_PAGE_SIZE")
    cwd = os.getcwd()
    with mounted(lowers, *mount_dirs) as mnt:
        assert os.getcwd() == cwd
        assert f"lowerdir=layers/044{'x' * 61}:layers/043" in our_mounts(tmp_path)[0]  # relative to tmp_path
        assert sorted(os.listdir(mnt)) == [f"f{i:03d}" for i in range(45)]
        assert disk_tree(mnt) == view_tree(UnionView(lowers))


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_mount_errors_name_the_errno_and_leave_nothing_mounted(tmp_path, mount_dirs):
    layers = make_layers(tmp_path, "overlay")
    upper, _, target = mount_dirs
    with pytest.raises(MountError) as err:
        with mounted(layers, upper, tmp_path / "no-such-work", target):
            pass
    assert err.value.errno == errno.ENOENT and "ENOENT" in str(err.value)
    with pytest.raises(RuntimeError):
        with mounted(layers, *mount_dirs):
            raise RuntimeError("the with block fails")


# -- random stacks: the view, the kernel and tar application agree ------------

def random_layer(rng, number: int, below: list[str]) -> bytes:
    """A layer tar of a few random files, dirs, symlinks, whiteouts and opaque dirs over the names a, b, c.

    Like docker's: each entry's parent directories are entries of the same tar,
    nothing is both deleted and written in one layer, and a whiteout hides a
    path of the layers `below`, never inside an opaque directory.  (The kernel
    lists a whiteout that hides nothing in a directory that merges with none
    below, though it cannot be looked up; minidock's view does not list it.)
    """
    tree: dict[str, str] = {}
    for _ in range(rng.randint(2, 7)):
        kind = rng.choice(["file", "file", "dir", "symlink", "whiteout", "opaque"])
        if kind == "whiteout" and not below:
            continue
        parts = rng.choice(below).split("/") if kind == "whiteout" else [
            rng.choice("abc") for _ in range(rng.randint(1, 3))]
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        allowed = ("dir",) if kind == "whiteout" else ("dir", "opaque")  # overlayfs.rst: an opaque directory
        if "/".join(parts) in tree or any(tree.get(p, "dir") not in allowed for p in parents):  # holds no whiteouts
            continue
        tree.update((p, tree.get(p, "dir")) for p in parents)
        tree["/".join(parts)] = kind
    entries = []
    for path, kind in sorted(tree.items()):
        head, _, name = path.rpartition("/")
        if kind in ("dir", "opaque"):
            entries.append(entry(path + "/", kind="dir", mode=rng.choice([0o755, 0o750, 0o700]), mtime=T1 + number))
        if kind == "opaque":
            entries.append(entry(path + "/.wh..wh..opq"))
        elif kind == "file":
            entries.append(entry(path, f"{number}:{path}\n".encode(), mode=rng.choice([0o644, 0o600, 0o755])))
        elif kind == "symlink":
            entries.append(entry(path, kind="symlink", linkname=rng.choice(["a", "/b/c", "../c"])))
        elif kind == "whiteout":
            entries.append(entry(f"{head}/.wh.{name}".lstrip("/")))
    return tar_of(*entries)


def random_stack(rng, base: Path, form: str, count: int) -> list[Path]:
    """`count` random layers extracted in `form`, and the reference: all of them applied in order to base/applied."""
    tars = []
    for number in range(count):
        tars.append(random_layer(rng, number, [p[1:] for p in disk_tree(new_dirs(base, "applied")[0])]))
        apply_layer_tar(io.BytesIO(tars[-1]), base / "applied", whiteouts="apply")
    return make_layers(base, form, tars)


@pytest.mark.parametrize("form", FORMS)
def test_random_stacks_look_the_same_in_the_view_the_kernel_and_applied_tars(tmp_path, form):
    for seed in range(40):
        rng, base = random.Random(seed), tmp_path / str(seed)
        view = UnionView(random_stack(rng, base, form, rng.randint(2, 4)))
        expected = disk_tree(base / "applied")
        assert view_tree(view) == expected, seed
        view.flatten(base / "flat")
        assert disk_tree(base / "flat") == expected, seed
        if form == "overlay":
            with mounted(view.layers, *new_dirs(base, "upper", "work", "mnt")) as mnt:
                assert disk_tree(mnt) == expected, seed
    assert our_mounts(tmp_path) == []


def random_changes(rng, mnt: Path) -> None:
    """What a container might do: write, append, delete, re-create, chmod, add links and directories."""
    for _ in range(rng.randint(1, 8)):
        tree = disk_tree(mnt)
        dirs = ["/"] + [p for p, d in tree.items() if stat.S_ISDIR(d[0])]
        path, there = rng.choice(sorted(tree) or ["/"]), mnt / rng.choice(dirs).lstrip("/")
        action, target = rng.choice(["write", "append", "delete", "recreate", "chmod", "mkdir", "symlink"]), mnt / path[1:]
        new = there / rng.choice("abcxyz")
        if action == "write" and not os.path.lexists(new) or action == "append" and target.is_file():
            with open(new if action == "write" else target, "ab") as f:
                f.write(b"written\n")
        elif action in ("delete", "recreate") and path != "/":
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            if action == "recreate":
                os.mkdir(target)
        elif action == "chmod" and path != "/" and not target.is_symlink():
            os.chmod(target, rng.choice([0o700, 0o755, 0o640]))
        elif action in ("mkdir", "symlink") and not os.path.lexists(new):
            os.mkdir(new) if action == "mkdir" else os.symlink("/etc/passwd", new)


def diff_trees(old: dict[str, tuple], new: dict[str, tuple]) -> set[tuple[str, str]]:
    """Docker's naive diff of two whole trees (pkg/archive ChangesDirs): the reference for changes()."""
    found: dict[str, str] = {}

    def note(path: str, kind: str) -> None:
        parts = path[1:].split("/")
        for i in range(1, len(parts)):
            found.setdefault("/" + "/".join(parts[:i]), "C")  # a directory added stays A
        found[path] = kind

    for path in sorted(new):
        dirs = stat.S_ISDIR(new[path][0]) and path in old and stat.S_ISDIR(old[path][0])
        if path not in old:
            note(path, "A")
        elif new[path][:4] != old[path][:4] or not dirs and new[path] != old[path]:  # dirs: not mtime
            note(path, "C")
    for path in sorted(old):
        parent = path.rpartition("/")[0] or "/"
        if path not in new and (parent == "/" or stat.S_ISDIR(new.get(parent, (0,))[0])):
            note(path, "D")
    return {(kind, path) for path, kind in found.items()}


@pytest.mark.root  # mknod of 0/0 whiteouts, trusted.* xattrs, mount(2)
def test_random_changes_through_the_mount_read_back_the_same_from_the_upper_layer(tmp_path):
    for seed in range(30):
        rng, base = random.Random(seed), tmp_path / str(seed)
        layers = random_stack(rng, base, "overlay", rng.randint(1, 3))
        with mounted(layers, *new_dirs(base, "upper", "work", "mnt")) as mnt:
            random_changes(rng, mnt)
            seen = disk_tree(mnt)
        view = UnionView(layers, base / "upper")
        assert view_tree(view) == seen, seed
        # docker diff: what comparing whole trees finds, and at most a C more for a copy-up that changed nothing
        reported, expected = set(changes(view)), diff_trees(disk_tree(base / "applied"), seen)
        assert expected <= reported and all(kind == "C" for kind, _ in reported - expected), seed
        view.flatten(base / "flat")
        assert disk_tree(base / "flat") == seen, seed
        commit = io.BytesIO()
        write_layer_tar(base / "upper", commit)  # docker commit, applied over the image's layers
        assert disk_tree(flatten_by_applying([commit.getvalue()], base / "applied")) == seen, seed
    assert our_mounts(tmp_path) == []
