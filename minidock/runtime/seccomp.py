"""Seccomp: which system calls a container may make, as Docker's default profile says.

Capabilities decide what root may do; seccomp decides which system calls may
be *made* at all.  A filter (a small BPF program the kernel runs on every
system call, seccomp(2)) sees the call's number and arguments and answers
"allow", or "fail with EPERM", or "kill".  Docker gives every container one,
built from its default profile (``seccomp_default.json``, moby's
``profiles/seccomp/default.json`` unchanged, Apache-2.0): an allow-list of
about 350 calls; everything else fails with EPERM (``defaultErrnoRet: 1``).
``unshare``, ``mount``, ``keyctl``, ``add_key``, ``swapon``, ``reboot`` and
``init_module`` are not on it, or only for a container that holds the
capability they need (``includes.caps``), so ``--cap-add SYS_ADMIN`` opens
``mount`` and ``unshare`` as in Docker.

Two steps, as Docker and runc split them:

* ``oci_seccomp`` (the engine, at every start): Docker's profile turned into
  the OCI runtime spec's ``linux.seccomp`` for *this* container: the host's
  architectures from ``archMap``, and only the rules whose ``includes`` hold
  and whose ``excludes`` do not, for its capabilities, this machine's
  architecture and kernel (moby ``profiles/seccomp/seccomp_linux.go``).
  Pure: data in, data out.
* ``compile_filter``, ``program`` and ``load`` (the runtime, in the
  container's first process): that ``linux.seccomp`` handed to libseccomp
  through ``pyseccomp``, rule by rule as runc does
  (``libcontainer/seccomp/seccomp_linux.go``): a name this libseccomp does not
  know is skipped, a rule whose action is the default one is left out, and the
  filter does not set no_new_privs itself.  libseccomp assembles the BPF
  (nothing here writes BPF by hand); its program is kept in the store, and
  loaded with prctl(2).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from . import durable
from .syscalls import set_seccomp_filter

PROFILE = Path(__file__).with_name("seccomp_default.json")

# this machine as the profile names it: uname's machine -> (Go's GOARCH, libseccomp's native architecture)
MACHINES = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
            "armv7l": ("arm", "SCMP_ARCH_ARM"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "s390x": ("s390x", "SCMP_ARCH_S390X"), "riscv64": ("riscv64", "SCMP_ARCH_RISCV64")}
ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
           "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = {"SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
             "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}
EPERM = 1


class ProfileError(ValueError):
    """A seccomp profile that is not one Docker would load."""


@functools.lru_cache(maxsize=1)
def default_profile() -> dict:
    """Docker's default profile, read once per process."""
    return json.loads(PROFILE.read_text())


def read_profile(text: str) -> dict:
    """A profile given as JSON text (``--security-opt seccomp=FILE``'s content), checked as Docker checks it."""
    try:
        profile = json.loads(text)
    except ValueError as e:
        raise ProfileError(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict) or not isinstance(profile.get("syscalls", []), list):
        raise ProfileError("Decoding seccomp profile failed: not a JSON object with a list of syscalls")
    if profile.get("architectures") and profile.get("archMap"):
        raise ProfileError("both 'architectures' and 'archMap' are specified in the seccomp profile, "
                           "use either 'architectures' or 'archMap'")
    for action in [profile.get("defaultAction")] + [c.get("action") for c in profile.get("syscalls") or []]:
        if action not in ACTIONS:
            raise ProfileError(f"string {action} is not a valid action for seccomp")
    return profile


def machine() -> tuple[str, str]:
    """(GOARCH, native libseccomp architecture) of this machine: ("amd64", "SCMP_ARCH_X86_64")."""
    name = os.uname().machine
    return MACHINES.get(name, (name, ""))


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """``6.1.0-18-amd64`` -> (6, 1): what ``minKernel`` is compared with."""
    major, minor = (release or os.uname().release).split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def oci_seccomp(profile: dict, capabilities, arch: tuple[str, str] | None = None,
                kernel: tuple[int, int] | None = None) -> dict:
    """Docker's ``profile`` as the OCI spec's ``linux.seccomp`` for a container holding ``capabilities``
    (``CAP_`` names, its bounding set) on this machine (or ``arch``, ``kernel``)."""
    goarch, native = arch or machine()
    kernel = kernel or kernel_version()
    held = set(capabilities)
    architectures = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == native:
            architectures += [native, *(entry.get("subArchitectures") or [])]
    syscalls = []
    for call in profile.get("syscalls") or []:
        if _applies(call, goarch, held, kernel):
            names = call.get("names") or ([call["name"]] if call.get("name") else [])
            syscalls.append({"names": names, "action": call["action"],
                             **({"errnoRet": call["errnoRet"]} if call.get("errnoRet") is not None else {}),
                             **({"args": call["args"]} if call.get("args") else {})})
    return {"defaultAction": profile["defaultAction"],
            **({"defaultErrnoRet": profile["defaultErrnoRet"]} if profile.get("defaultErrnoRet") is not None else {}),
            "architectures": architectures, "syscalls": syscalls}


def _applies(call: dict, goarch: str, held: set[str], kernel: tuple[int, int]) -> bool:
    """moby's filter: every ``includes`` condition holds (all its caps held) and no ``excludes`` one does
    (not any of its caps held)."""
    inc, exc = call.get("includes") or {}, call.get("excludes") or {}
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= held:
        return False
    if inc.get("minKernel") and kernel < kernel_version(inc["minKernel"]):
        return False
    if exc.get("arches") and goarch in exc["arches"]:
        return False
    if exc.get("caps") and set(exc["caps"]) & held:
        return False
    return not (exc.get("minKernel") and kernel >= kernel_version(exc["minKernel"]))


def allowed(seccomp: dict) -> list[str]:
    """The system calls an OCI ``linux.seccomp`` allows whatever their arguments, sorted (for tables)."""
    return sorted({n for c in seccomp["syscalls"] if c["action"] == "SCMP_ACT_ALLOW" and not c.get("args")
                   for n in c["names"]})


def answer(seccomp: dict, name: str) -> str:
    """What the filter answers a call (for tables): ``allowed``, ``some arguments`` (an argument rule
    decides: ``clone`` without namespace flags), an error's name (``ENOSYS``), or the default's (``EPERM``)."""
    import errno
    rules = [c for c in seccomp["syscalls"] if name in c["names"]]
    if any(c["action"] == "SCMP_ACT_ALLOW" and not c.get("args") for c in rules):
        return "allowed"
    if any(c["action"] == "SCMP_ACT_ALLOW" for c in rules):
        return "some arguments"
    refusal = next((c for c in rules if c["action"] == "SCMP_ACT_ERRNO"), None)
    if refusal is None and seccomp["defaultAction"] != "SCMP_ACT_ERRNO":
        return seccomp["defaultAction"].removeprefix("SCMP_ACT_").lower()
    code = (refusal or {}).get("errnoRet", seccomp.get("defaultErrnoRet", EPERM))
    return errno.errorcode.get(code, str(code))


# -- the runtime's part: libseccomp builds the BPF, the kernel runs it --------------------------

def _action(sc, name: str, errno_ret: int | None):
    """libseccomp's action for a profile's action name (runc's getAction: EPERM unless ``errnoRet`` says)."""
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(EPERM if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_TRACE":
        return sc.TRACE(EPERM if errno_ret is None else errno_ret)
    plain = {"SCMP_ACT_KILL": sc.KILL, "SCMP_ACT_KILL_THREAD": sc.KILL,   # the same action (libseccomp's alias)
             "SCMP_ACT_KILL_PROCESS": sc.KILL_PROCESS,
             "SCMP_ACT_TRAP": sc.TRAP, "SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_LOG": sc.LOG}
    if name not in plain:
        raise ProfileError(f"string {name} is not a valid action for seccomp")
    return plain[name]


def binding():
    """pyseccomp (PyPI, ctypes: works in any venv), or Debian's python3-seccomp (libseccomp's own binding,
    the same API) where minidock runs on the system's python3, as the rootless tests do."""
    try:
        import pyseccomp
        return pyseccomp
    except ImportError:
        import seccomp as libseccomp_binding
        return libseccomp_binding


def compile_filter(seccomp: dict):
    """A libseccomp filter for an OCI ``linux.seccomp``, not yet loaded.

    Built while the host's files are still in sight (pyseccomp finds and
    dlopens libseccomp.so.2 when first imported; the container's root has no
    such library); ``load`` it as late as possible.
    """
    sc = binding()
    default = _action(sc, seccomp["defaultAction"], seccomp.get("defaultErrnoRet"))
    syscall_filter = sc.SyscallFilter(default)
    for arch in seccomp.get("architectures") or []:
        number = getattr(sc.Arch, arch.removeprefix("SCMP_ARCH_"), None)
        if number is None:
            raise ProfileError(f"unknown seccomp architecture {arch}")
        if not syscall_filter.exist_arch(number):
            syscall_filter.add_arch(number)
    # runc: the filter must not set no_new_privs itself; whether it is set is the container's choice
    syscall_filter.set_attr(sc.Attr.CTL_NNP, 0)
    for call in seccomp["syscalls"]:
        action = _action(sc, call["action"], call.get("errnoRet"))
        if action == default:
            continue   # libseccomp refuses a rule that says what the default says
        conditions = [sc.Arg(a["index"], getattr(sc, OPERATORS[a["op"]]), a["value"], a.get("valueTwo", 0))
                      for a in call.get("args") or []]
        indexes = [a["index"] for a in call.get("args") or []]
        # runc: two conditions on one argument cannot be ANDed in one rule, so each is a rule of its own (OR)
        groups = [[c] for c in conditions] if len(set(indexes)) < len(indexes) else [conditions]
        for name in call["names"]:
            number = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if number == -1:   # __NR_SCMP_ERROR: a call this libseccomp does not know (runc skips it too)
                continue
            for group in groups:
                syscall_filter.add_rule(action, number, *group)
    return syscall_filter


def program(seccomp: dict, cache: Path | None = None) -> bytes:
    """The BPF program libseccomp makes of an OCI ``linux.seccomp``, as ``load`` takes it.

    As runc does (its patchbpf.go), the program is exported from libseccomp
    (``seccomp_export_bpf``) and loaded by us.  So it can be kept: ``cache`` (the
    store's ``seccomp/``) holds each program once (after its own sha256), named by the sha256 of its
    rules, and a container whose rules were compiled before (the same profile,
    capabilities and machine) loads it without importing libseccomp's binding
    or compiling again (some 30 ms of every ``run``).
    """
    key = hashlib.sha256(json.dumps([os.uname().machine, seccomp], sort_keys=True).encode()).hexdigest()
    kept = cache / f"{key}.bpf" if cache else None
    try:
        # a kept program starts with its own sha256: a torn or altered one (a partial program may
        # still end on a RET the kernel takes, and filter less) is compiled again, never loaded
        kept_bytes = kept.read_bytes() if kept else b""
        bpf = kept_bytes[32:]
        if bpf and len(bpf) % 8 == 0 and hashlib.sha256(bpf).digest() == kept_bytes[:32]:
            return bpf
    except OSError:
        pass
    with tempfile.TemporaryFile() as f:   # libseccomp writes the program to a file descriptor
        compile_filter(seccomp).export_bpf(f)
        f.seek(0)
        made = f.read()
    if kept:
        try:   # whole or not at all: a reader never sees half a program
            os.makedirs(cache, exist_ok=True)
            durable.write(kept, hashlib.sha256(made).digest() + made)
        except OSError:
            pass   # a cache we may not write: a program of our own this once
    return made


def load(bpf: bytes) -> None:
    """Install the program on the calling thread: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER).

    The kernel's rule: without no_new_privs the caller needs CAP_SYS_ADMIN (in
    its user namespace), so a container without ``no-new-privileges`` loads it
    before dropping capabilities.  From here on, every system call this
    process and its children make -- the last steps of setup and the execve
    -- passes through it; it cannot be removed, only made stricter.
    """
    set_seccomp_filter(bpf)
