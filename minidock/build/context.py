"""The build context: the files a Dockerfile's COPY and ADD may take, and nothing else.

``docker build DIR`` sends DIR (minus what ``.dockerignore`` excludes) to the
builder; ``docker build - < ctx.tar`` sends a tar.  Either way, COPY and ADD
see only that tree:

* a source that climbs out (``COPY ../secret /``) is refused, as Docker's
  classic builder refuses it ("forbidden path outside the build context");
* symlinks inside the context are resolved *within* it, as if the context
  were ``/`` (``link -> /etc`` makes ``link/passwd`` the context's
  ``etc/passwd``), a source that is itself a symlink is followed the same
  way (dockerd copies what it names), never out of the context;
* ``.dockerignore`` patterns (Docker's rules: Go's ``filepath.Match`` plus
  ``**``, ``!`` exceptions, the last matching pattern wins, a matched
  directory excludes what is in it) hide files from COPY . and from wildcards.
"""

from __future__ import annotations

import fnmatch
import grp
import hashlib
import os
import pwd
import re
import shutil
import stat
from pathlib import Path

from ..errors import MinidockError

MAX_SYMLINKS = 40


class BuildError(MinidockError):
    """A build step failed (docker build exits 1)."""

    exit_code = 1


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex over slash-separated relative paths (moby patternmatcher)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                i += 1
                if pattern[i + 1:i + 2] == "/":  # "**/" matches zero or more directories
                    i += 1
                    out += "(?:.*/)?"
                else:
                    out += ".*"
            else:
                out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


class Ignore:
    """The patterns of a ``.dockerignore`` file."""

    def __init__(self, text: str = ""):
        self.rules: list[tuple[re.Pattern, bool]] = []  # (pattern, is an exception)
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            line = line[1:].strip() if exception else line
            cleaned = os.path.normpath(line).lstrip("/")
            if cleaned in (".", ""):
                continue
            self.rules.append((_pattern_regex(cleaned), exception))

    def excluded(self, rel: str) -> bool:
        """Whether the context path ``rel`` ("a/b/c") is excluded: the last rule matching it or a parent wins."""
        parents = rel.split("/")
        candidates = ["/".join(parents[:i]) for i in range(1, len(parents) + 1)]
        verdict = False
        for regex, exception in self.rules:
            if any(regex.match(c) for c in candidates):
                verdict = not exception
        return verdict


class Context:
    """A build context directory and its ``.dockerignore``; ``sent``: for a context that came as a tar
    (``POST /build``), each path's tar header as the client sent it, which Docker's hashes are made of."""

    def __init__(self, root: Path, sent: dict[str, dict[str, str]] | None = None):
        self.root = Path(root).resolve()
        self.sent = sent
        ignore = self.root / ".dockerignore"
        self.ignore = Ignore(ignore.read_text() if ignore.is_file() else "")

    def sources(self, pattern: str, instruction: str = "COPY") -> list[str]:
        """The context paths (relative, resolved within the context) a COPY source names."""
        clean = os.path.normpath(pattern.lstrip("/")) if pattern not in ("", "/") else "."
        if clean == ".." or clean.startswith("../"):
            raise BuildError(f"{instruction} failed: forbidden path outside the build context: {pattern}")
        if any(ch in clean for ch in "*?["):
            # Go's filepath.Match: a wildcard never matches a "/", so the depths must agree
            found = [rel for rel in self._walk(".") if rel.count("/") == clean.count("/")
                     and fnmatch.fnmatchcase(rel, clean)]
            if not found:
                raise BuildError(f"{instruction} failed: no source files were specified")
            return sorted(found)
        rel = self.resolve(clean, follow_last=False)
        if rel is None or (rel != "." and self.ignore.excluded(rel)):
            raise BuildError(f"{instruction} failed: file not found in build context or excluded by "
                             f".dockerignore: stat {pattern}: file does not exist")
        return [rel]

    def resolve(self, rel: str, follow_last: bool = True) -> str | None:
        """``rel`` with every symlink on the way followed as if the context were "/"; None if missing."""
        parts, done, hops = [p for p in rel.split("/") if p not in ("", ".")], [], 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            path = self.root.joinpath(*done, part)
            if not os.path.lexists(path):
                return None
            if path.is_symlink() and (parts or follow_last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    return None
                target = os.readlink(path)
                done = [] if target.startswith("/") else done
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            done.append(part)
        return "/".join(done) or "."

    def _walk(self, rel: str):
        """Every context path under ``rel`` that .dockerignore leaves in, parents first."""
        top = self.root / rel
        for dirpath, dirnames, filenames in os.walk(top):
            base = os.path.relpath(dirpath, self.root)
            for name in sorted(dirnames + filenames):
                child = name if base == "." else f"{base}/{name}"
                if not self.ignore.excluded(child):
                    yield child
            dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))

    def files_under(self, rel: str) -> list[str]:
        """``rel`` and, for a directory, everything kept under it."""
        path = self.root / rel
        if rel != "." and (path.is_symlink() or not path.is_dir()):
            return [rel]
        return ([] if rel == "." else [rel]) + [p for p in self._walk(rel)]


def copy_into(ctx_root: Path, pairs: list[tuple[str, str]], dest_root: Path,
              owner: tuple[int, int] | None, chmod: int | None) -> None:
    """Copy each context path to its destination under ``dest_root`` (missing parents 0755), keeping modes and mtimes."""
    for rel, dest in pairs:
        src, target = ctx_root / rel, dest_root / dest.lstrip("/")
        st = os.lstat(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISDIR(st.st_mode):
            target.mkdir(exist_ok=True)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), target)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, target, follow_symlinks=False)
        else:
            continue  # sockets, fifos, devices in a context are not copied
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(target, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_mtime_ns, st.st_mtime_ns), follow_symlinks=False)
        if owner is not None and os.geteuid() == 0:
            os.lchown(target, *owner)


def tar_header(info) -> dict[str, str]:
    """The fields of a context's tar header (a ``tarfile.TarInfo``) that Docker's hash reads, as sent; but
    no owner names: dockerd 20.10 hashes "root" sent by its own CLI as empty names (measured)."""
    return {"mode": str(info.mode), "uid": str(info.uid), "gid": str(info.gid),
            "size": str(info.size if info.isreg() else 0),
            "typeflag": "0" if info.type == b"\0" else info.type.decode(),
            "linkname": info.linkname, "uname": "", "gname": "",
            "devmajor": str(info.devmajor), "devminor": str(info.devminor)}


def source_hash(root: Path, rel: str, sent: dict[str, str] | None = None, from_context: bool = True) -> str:
    """Docker's hash of one source path: sha256 of tarsum v1's header fields (name, mode, uid, gid, size,
    typeflag, linkname, uname, gname, devmajor, devminor; the mtime left out), then the file's content.

    A context's file is hashed from the header the client sent it with (moby remotecontext/tarsum.go):
    ``sent``; Debian's docker 20.10 puts the type bits in the mode, 28.x does not.  A context directory
    is hashed as a current docker CLI would send it: owner 0:0 without names, the permission bits.  A file
    of a stage or an image (``COPY --from``) is hashed from disk (remotecontext/filehash.go): the mode with
    its type bits, the owner and its names as Go's ``tar.FileInfoHeader`` looks them up."""
    path = root / rel if rel != "." else root
    st = os.lstat(path)
    if sent is not None:
        h = hashlib.sha256(("name" + rel + ("/" if sent["typeflag"] == "5" else "") +
                            "".join(k + v for k, v in sent.items())).encode(errors="surrogateescape"))
        return _with_content(h, path, sent["typeflag"] in ("0", "7"))
    uid, gid = (0, 0) if from_context else (st.st_uid, st.st_gid)
    kind = TYPEFLAGS.get(stat.S_IFMT(st.st_mode), "0")
    is_reg = stat.S_ISREG(st.st_mode)
    fields = [("name", rel + ("/" if stat.S_ISDIR(st.st_mode) else "")),
              ("mode", str(stat.S_IMODE(st.st_mode) if from_context else st.st_mode)),
              ("uid", str(uid)), ("gid", str(gid)), ("size", str(st.st_size if is_reg else 0)),
              ("typeflag", kind), ("linkname", os.readlink(path) if kind == "2" else ""),
              ("uname", "" if from_context else _name_of(pwd.getpwuid, uid)),
              ("gname", "" if from_context else _name_of(grp.getgrgid, gid)),
              ("devmajor", str(os.major(st.st_rdev) if kind in "34" else 0)),
              ("devminor", str(os.minor(st.st_rdev) if kind in "34" else 0))]
    h = hashlib.sha256("".join(k + v for k, v in fields).encode(errors="surrogateescape"))
    return _with_content(h, path, is_reg)


def _with_content(h, path: Path, is_reg: bool) -> str:
    if is_reg and os.path.isfile(path):
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


TYPEFLAGS = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4", stat.S_IFDIR: "5",
             stat.S_IFIFO: "6"}


def _name_of(lookup, number: int) -> str:
    try:
        return lookup(number)[0]
    except KeyError:
        return ""


def sources_hash(context: Context, picked: list[tuple[str, list[str], str]], from_context: bool = True) -> str:
    """What a COPY's history line names (moby builder/dockerfile/copy.go): ``file:<hash>`` for one file,
    ``dir:<sha256 of its paths' hashes, sorted, joined by ",">`` for a directory (itself included),
    ``multi:<the same over each source's own name>`` for more than one source.  A symlink is hashed as
    what it points to in the context (dockerd's ``Hash`` follows it in scope)."""
    def hashed(rel: str) -> str:
        target = context.resolve(rel) or rel
        return source_hash(context.root, target, (context.sent or {}).get(target), from_context)

    names = []
    for rel, files, *_ in picked:
        path = context.root / rel
        if files == [rel] and not (rel == "." or path.is_dir() and not path.is_symlink()):
            names.append("file:" + hashed(rel))
        else:
            names.append("dir:" + hashlib.sha256(",".join(sorted(hashed(f) for f in files)).encode()).hexdigest())
    if len(names) == 1:
        return names[0]
    return "multi:" + hashlib.sha256(",".join(names).encode()).hexdigest()
