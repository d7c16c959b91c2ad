"""The container as a bundle: from the engine's record of a container to the spec its runtime runs.

``config.json`` in a container's directory is what ``create`` decided, in the
engine's terms (an image, its layers' chain IDs, a name); ``spec.json`` beside
it is what the runtime needs, in the kernel's terms (paths, a process, limits;
``runtime/spec.py`` says its fields).  It is written at every start, so it
always says what the record says.
"""

from __future__ import annotations

from pathlib import Path

from ..images.store import Store
from ..runtime import spec as specfile
from .security import spec_fields

ETC_FILES = ("hosts", "hostname", "resolv.conf")   # the container's own, bind-mounted over the image's


def spec_of(config: dict, store: Store, network: dict | None = None) -> dict:
    """The runtime spec of the container ``config`` describes; ``network``, what ``endpoints.plan``
    says of its networks (the mode, the segments to cable, the peers' names)."""
    network = network or {"mode": config["NetworkMode"] if config["NetworkMode"] in ("none", "host") else "bridge"}
    cdir = store.root / "containers" / config["Id"]
    vfs = config["Driver"] == "vfs"
    lowers = [cdir / "init"] + [store.layer_dir(chain) / "diff" for chain in reversed(config["Layers"])]
    cpus = config["Cpus"]
    security, confinement = spec_fields(config)
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": config["Tty"], "args": [config["Path"], *config["Args"]], "env": config["Env"],
                    "cwd": config["WorkingDir"] or "/", "user": {"username": config["User"]},
                    **({"consoleSize": config["ConsoleSize"]} if config.get("ConsoleSize") else {}), **security},
        "root": {"path": "rootfs" if vfs else "merged", "readonly": config["ReadonlyRootfs"]},
        "hostname": config["Hostname"],
        "mounts": [{"destination": f"/etc/{name}", "type": "bind", "source": name} for name in ETC_FILES]
        + volume_mounts(config.get("Mounts") or []),
        "linux": {"resources": {"memory": {"limit": config["Memory"] or 0},
                                "pids": {"limit": config["PidsLimit"] or 0},
                                "cpu": {"quota": round(cpus * specfile.CPU_PERIOD) if cpus else 0,
                                        "period": specfile.CPU_PERIOD, "shares": config.get("CpuShares") or 0, "cpus": config.get("CpusetCpus") or ""}},
                  **confinement},
        "minidock": {"overlay": None if vfs else {"lowerdir": [str(p) for p in lowers], "upperdir": "upper",
                                                  "workdir": "work", "links": str(store.links)},
                     "network": {**network, "ports": config["Ports"], "pool": str(store.root)},
                     "stdin": config["OpenStdin"], "init": config["Init"],
                     "share": config.get("SharedNamespaces") or [], "privileged": bool(config.get("Privileged")),
                     "seccompCache": str(store.root / "seccomp")},
    }


def volume_mounts(mounts: list[dict]) -> list[dict]:
    """The container's volumes, binds and tmpfs as OCI mounts, parents before what is mounted in them."""
    specs = []
    for m in sorted(mounts, key=lambda m: m["Destination"].count("/")):
        access = "rw" if m["RW"] else "ro"
        if m["Type"] == "tmpfs":   # Docker's tmpfs defaults, then what was asked for
            options = ["nosuid", "nodev", "noexec", access] + [o for o in m.get("Options", "").split(",") if o]
            specs.append({"destination": m["Destination"], "type": "tmpfs", "source": "tmpfs", "options": options})
        else:
            specs.append({"destination": m["Destination"], "type": "bind", "source": m["Source"],
                          "options": ["rbind", access], "copyUp": m.get("CopyUp", False)})
    return specs


def write_spec(config: dict, store: Store, network: dict | None = None) -> Path:
    """Write the container's ``spec.json``; its bundle directory."""
    cdir = store.root / "containers" / config["Id"]
    specfile.write(cdir, spec_of(config, store, network))
    return cdir
