"""deploy/kubernetes/: the Zero to JupyterHub values against the chart's structure and the project's rules.

No chart and no cluster are reachable offline, so this checks what can be checked here:

* the keys and types, against ``values.schema.json`` (the part of the chart's configuration reference the
  values use; ``additionalProperties: false`` where a misspelt key would be silently ignored);
* the image is the one the README's repo2docker command builds from ``binder/``, for the user the chart
  starts, and repo2docker really reads ``binder/`` (``--no-build`` writes the Dockerfile without Docker);
* every profile names a real minidock mode (``runtime/mode.py``'s ISOLATES);
* minidock's store and the chapter stores (computed by minidock's own functions under the pod's
  environment) land on the local store volume, the progress file on the home volume;
* limits parse the way their readers parse them, and the memory guarantee covers the measured learner;
* the README's capacity arithmetic and its table of recorded cells agree with what they are computed from.

Each rule is a function returning the problems it finds; the mutated copies prove each can fail.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path, PurePosixPath
from unittest import mock

import jsonschema
import pytest
import yaml

from minidock.course import chapter
from minidock.images import store
from minidock.runtime import mode

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "deploy" / "kubernetes"
IMAGE = "minidock-course"        # the repository name the README's command gives the image
CHAPTER = "04-containers"        # the chapter the figures were measured on
# where minidock keeps a learner's progress: the XDG state dir, in the home (the course's progress file)
PROGRESS = ".local/state/minidock"


def values() -> dict:
    return yaml.safe_load((HERE / "values.yaml").read_text())


def readme() -> str:
    return (HERE / "README.md").read_text()


# -- the chart's structure -------------------------------------------------------------------------------

def schema_problems(config: dict, _text: str) -> list[str]:
    """Every place ``config`` leaves the schema of the chart's keys we use."""
    schema = json.loads((HERE / "values.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in validator.iter_errors(config)]


# -- the image --------------------------------------------------------------------------------------------

def build_command(text: str) -> dict[str, str]:
    """The options of the README's ``jupyter-repo2docker`` command (its lines joined at the backslashes)."""
    found = re.search(r"^jupyter-repo2docker (.*?[^\\])$", text.replace("\\\n", ""), re.M)
    if not found:
        return {}
    words = shlex.split(found.group(1))
    return {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("--")}


def image_problems(config: dict, text: str) -> list[str]:
    """The chart runs what the README builds, as the user it builds, with the course where it is copied from."""
    single, command = config["singleuser"], build_command(text)
    image = f"{single['image']['name']}:{single['image']['tag']}"
    problems = [] if command else ["the README has no jupyter-repo2docker command"]
    if command and command.get("--image-name") != image:
        problems.append(f"singleuser.image is {image}, the README builds {command.get('--image-name')}")
    if not single["image"]["name"].endswith("/" + IMAGE):
        problems.append(f"singleuser.image.name {single['image']['name']} is not .../{IMAGE}")
    if command and command.get("--user-id") != str(single["uid"]):
        problems.append(f"singleuser.uid {single['uid']} but repo2docker builds uid {command.get('--user-id')}")
    if command and f"/home/{command.get('--user-name')}" != single["storage"]["homeMountPath"]:
        problems.append(f"the home volume is at {single['storage']['homeMountPath']}, "
                        f"not the home of {command.get('--user-name')}")
    for profile in single["profileList"]:   # a profile's own securityContext replaces the one made from uid
        context = profile["kubespawner_override"].get("extra_container_config", {}).get("securityContext", {})
        if context.get("runAsUser", single["uid"]) != single["uid"]:
            problems.append(f"profile {profile['slug']} runs as uid {context['runAsUser']}, not singleuser.uid")
    start = " ".join(single.get("lifecycleHooks", {}).get("postStart", {}).get("exec", {}).get("command", []))
    if command and f"{command.get('--target-repo-dir')}/notebooks " not in start:
        problems.append(f"postStart does not copy the chapters from {command.get('--target-repo-dir')}/notebooks")
    return problems


# -- the modes --------------------------------------------------------------------------------------------

def mode_problems(config: dict, _text: str) -> list[str]:
    """Each profile chooses a real mode; exactly one profile is the default."""
    profiles = config["singleuser"]["profileList"]
    problems = [f"profile {p['slug']}: MINIDOCK_MODE {p['kubespawner_override']['environment'].get('MINIDOCK_MODE')!r}"
                f" is not one of {sorted(mode.ISOLATES)}" for p in profiles
                if p["kubespawner_override"]["environment"].get("MINIDOCK_MODE") not in mode.ISOLATES]
    defaults = [p["slug"] for p in profiles if p.get("default")]
    if len(defaults) != 1:
        problems.append(f"{len(defaults)} default profiles ({defaults}), not one")
    return problems


# -- where things are kept --------------------------------------------------------------------------------

def pod_mounts(config: dict) -> dict[PurePosixPath, str]:
    """Mount path -> what is mounted there: "home" (the PVC) or the kind of each extra volume."""
    storage = config["singleuser"]["storage"]
    kinds = {v["name"]: next(k for k in v if k != "name") for v in storage.get("extraVolumes", [])}
    mounts = {PurePosixPath(storage["homeMountPath"]): "home"}
    mounts.update({PurePosixPath(m["mountPath"]): kinds.get(m["name"], "missing volume")
                   for m in storage.get("extraVolumeMounts", [])})
    return mounts


def volume_of(path: PurePosixPath, mounts: dict[PurePosixPath, str]) -> str:
    """What holds ``path``: the deepest mount above it, else the container's own (overlay) file system."""
    above = [m for m in mounts if path == m or m in path.parents]
    return mounts[max(above, key=lambda m: len(m.parts))] if above else "the container's file system"


def minidock_paths(config: dict, profile: dict, merged: bool) -> dict[str, PurePosixPath]:
    """minidock's store, a chapter's store and the progress file, as minidock computes them in that pod.
    ``merged``: the profile's environment adds to singleuser.extraEnv; else it replaces it (KubeSpawner
    applies a kubespawner_override by setting the trait)."""
    single = config["singleuser"]
    home = single["storage"]["homeMountPath"]
    env = {"HOME": home, **(single["extraEnv"] if merged else {}), **profile["kubespawner_override"]["environment"]}
    with mock.patch.dict(os.environ, env, clear=True), mock.patch("os.geteuid", return_value=single["uid"]):
        return {"minidock's store": PurePosixPath(store.default_root()),
                "a chapter's store": PurePosixPath(chapter.course_root(CHAPTER)),
                "the progress file": PurePosixPath(home) / PROGRESS}


def store_problems(config: dict, _text: str) -> list[str]:
    """Stores on a local volume (overlayfs upper dirs: emptyDir or a PVC, never the image's own overlay or
    the home volume); the progress file on the home volume, which outlives the pod."""
    mounts, problems = pod_mounts(config), []
    for profile in config["singleuser"]["profileList"]:
        for merged in (True, False):
            for what, path in minidock_paths(config, profile, merged).items():
                held = volume_of(path, mounts)
                wanted = ("home",) if what == "the progress file" else ("emptyDir", "persistentVolumeClaim")
                if held not in wanted:
                    problems.append(f"profile {profile['slug']} ({'merged with' if merged else 'replacing'} extraEnv): "
                                    f"{what} {path} is on {held}, not {' or '.join(wanted)}")
    return sorted(set(problems))


# -- limits -----------------------------------------------------------------------------------------------

# jupyterhub/traitlets.py ByteSpecification: a number of bytes, or K, M, G, T in units of 1024 ("1Gi" fails)
BYTE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# Kubernetes resource.Quantity: a decimal number, an exponent or one suffix (binary Ki..Ei, decimal n..E)
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
SUFFIX = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
          "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10 ** 3, "M": 10 ** 6,
          "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}


def byte_specification(value) -> int:
    """Bytes, the way the hub reads singleuser.memory (ValueError where the hub would refuse it)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str) or value[-1:] not in BYTE_UNITS:
        raise ValueError(f"{value!r} is not a memory specification (a number, or K, M, G, T)")
    return int(float(value[:-1]) * BYTE_UNITS[value[-1]])


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity's value (ValueError where the API server would refuse it)."""
    found = QUANTITY.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, exponent, suffix = found.groups()
    return Decimal(number) * (Decimal(10) ** int(exponent) if exponent else Decimal(SUFFIX.get(suffix, 1)))


def quantity_problems(config: dict, _text: str) -> list[str]:
    """Memory as the hub parses it, sizes as Kubernetes parses them, CPUs positive, limits above guarantees."""
    single, problems = config["singleuser"], []
    parsed = {}
    for key in ("guarantee", "limit"):
        try:
            parsed[key] = byte_specification(single["memory"][key])
        except ValueError as error:
            problems.append(f"singleuser.memory.{key}: {error}")
    sizes = [("singleuser.storage.capacity", single["storage"].get("capacity"))]
    sizes += [(f"emptyDir {v['name']} sizeLimit", v["emptyDir"].get("sizeLimit"))
              for v in single["storage"].get("extraVolumes", []) if "emptyDir" in v]
    for where, size in sizes:
        try:
            if size is not None:
                quantity(size)
        except ValueError as error:
            problems.append(f"{where}: {error}")
    cpu = single["cpu"]
    if not 0 < cpu["guarantee"] <= cpu["limit"]:
        problems.append(f"singleuser.cpu: guarantee {cpu['guarantee']}, limit {cpu['limit']}")
    if len(parsed) == 2 and parsed["guarantee"] > parsed["limit"]:
        problems.append("singleuser.memory: the guarantee is above the limit")
    return problems


# -- the README's capacity arithmetic -----------------------------------------------------------------------

def measured(text: str) -> dict[str, Decimal]:
    """The one table of measured figures (``figure | value | unit | ...``), MiB and seconds."""
    table = text.split("<!-- measured: begin -->")[1].split("<!-- measured: end -->")[0]
    return {name: Decimal(value) for name, value in re.findall(r"^\| `(\w+)` \| ([0-9.]+) \|", table, re.M)}


def capacity(config: dict, text: str) -> dict:
    """The arithmetic the README shows, computed from its measured table, the values and its node sizes."""
    figures, single = measured(text), config["singleuser"]
    reserved = re.search(r"keep \*\*([0-9.]+) GiB and ([0-9.]+) CPU\*\*", text)
    guarantee_mib = Decimal(byte_specification(single["memory"]["guarantee"])) / 2 ** 20
    learner_cpu = figures["chapter_cpu"] / figures["chapter_wall"]
    nodes = {}
    for cpus, gib in re.findall(r"^\| ([0-9]+) vCPU / ([0-9]+) GiB \|", text, re.M):
        memory, cpu = Decimal(gib) - Decimal(reserved.group(1)), Decimal(cpus) - Decimal(reserved.group(2))
        by_memory = math.floor(memory * 1024 / guarantee_mib)
        by_cpu = math.floor(cpu / Decimal(str(single["cpu"]["guarantee"])))
        learners = min(by_memory, by_cpu)
        slowdown = learners * learner_cpu / cpu
        nodes[f"{cpus} vCPU / {gib} GiB"] = (f"{memory} GiB", f"{cpu}", by_memory, by_cpu, learners,
                                            f"{slowdown:.1f}", round(slowdown * figures["chapter_wall"]))
    return {"learner_memory": figures["learner_memory"],
            "learner_cpu": learner_cpu, "guarantee_mib": guarantee_mib, "nodes": nodes}


def capacity_problems(config: dict, text: str) -> list[str]:
    """The guarantee covers a measured learner, and every figure the README derives is what it computes."""
    figures = capacity(config, text)
    problems = []
    if figures["guarantee_mib"] < figures["learner_memory"]:
        problems.append(f"singleuser.memory.guarantee ({figures['guarantee_mib']} MiB) is below the measured "
                        f"learner ({figures['learner_memory']} MiB)")
    if f"`learner_memory` = **{figures['learner_memory']} MiB**" not in text:
        problems.append(f"the README's learner_memory is not {figures['learner_memory']} MiB")
    if f"= **{figures['learner_cpu']:.2f}**" not in text:
        problems.append(f"the README's learner_cpu is not {figures['learner_cpu']:.2f}")
    if not figures["nodes"]:
        problems.append("the README's worked example has no node sizes")
    for node, (memory, cpu, by_memory, by_cpu, learners, slowdown, seconds) in figures["nodes"].items():
        row = (f"| {node} | {memory} | {cpu} | {by_memory} | {by_cpu} | **{learners}** | "
               f"{slowdown} × slower: about {seconds} s |")
        if row not in text:
            problems.append(f"the worked example's row should read: {row}")
    return problems


# -- the README's table of recorded cells ------------------------------------------------------------------

def recorded_cells(name: str) -> str:
    """For mode ``name``: per chapter, how many of its ``%%needs`` cells show recorded output there."""
    counts = []
    for notebook in sorted((REPO / "notebooks").glob("[0-9]*.ipynb")):
        cells = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        needs = [cell.splitlines()[0].removeprefix("%%needs ").split(",") for cell in cells
                 if cell.startswith("%%needs ")]
        with mock.patch.dict(os.environ, {"MINIDOCK_MODE": name}):
            lacking = sum(1 for need in needs if chapter.lacking(*(n.strip() for n in need)))
        if lacking:
            counts.append(f"{notebook.name[:2]}: {lacking} of {len(needs)}")
    return ", ".join(counts) or "none"


def recorded_problems(config: dict, text: str) -> list[str]:
    """The README's last column, for each profile and for root, is what the chapters and mode.py make it."""
    modes = {p["slug"]: p["kubespawner_override"]["environment"]["MINIDOCK_MODE"]
             for p in config["singleuser"]["profileList"]}
    modes.setdefault("root", "root")
    problems = []
    for slug, name in modes.items():
        row = re.search(rf"^\| \*\*{slug}\*\*.* \| ([^|]+) \|$", text, re.M)
        expected = recorded_cells(name)
        if not row or row.group(1) != expected:
            problems.append(f"the README's row for {slug} should end: {expected}")
    return problems


RULES = [schema_problems, image_problems, mode_problems, store_problems, quantity_problems,
         capacity_problems, recorded_problems]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_values_keep_the_rule(rule):
    assert rule(values(), readme()) == []


# each mutation: what it changes, the rule that must catch it, and a word of its complaint
def _parent(config: dict, path: str):
    """The dict or list holding ``path``'s last key (``a.b.0.c``), and that key."""
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    return node, int(last) if last.isdigit() else last


def _set(path: str, value):
    """Set ``path`` to ``value`` (KeyError: remove it)."""
    def mutate(config, text):
        node, key = _parent(config, path)
        if value is KeyError:
            del node[key]
        else:
            node[key] = value
        return config, text
    return mutate


def _rename(path: str, new: str):
    def mutate(config, text):
        node, key = _parent(config, path)
        node[new] = node.pop(key)
        return config, text
    return mutate


def _unset_env(name: str):
    """Remove ``name`` from singleuser.extraEnv and from every profile's environment."""
    def mutate(config, text):
        single = config["singleuser"]
        for env in [single["extraEnv"], *(p["kubespawner_override"]["environment"] for p in single["profileList"])]:
            env.pop(name, None)
        return config, text
    return mutate


def _text(pattern: str, replace):
    """Replace the README's first match of ``pattern`` (``replace``: a string or a function of the match)."""
    def mutate(config, text):
        changed = re.sub(pattern, replace, text, count=1, flags=re.M)
        assert changed != text, pattern
        return config, changed
    return mutate


ROOTLESS = "singleuser.profileList.1.kubespawner_override"
MUTATIONS = {
    "a misspelt key": (_rename("singleuser.memory", "memroy"), schema_problems, "memroy"),
    "a misspelt pod field": (_rename(f"{ROOTLESS}.extra_pod_config.hostUsers", "hostUser"), schema_problems,
                             "hostUser"),
    "an unknown procMount": (_set(f"{ROOTLESS}.extra_container_config.securityContext.procMount", "unmasked"),
                             schema_problems, "unmasked"),
    "an NFS store volume": (_set("singleuser.storage.extraVolumes.0", {"name": "minidock-store", "nfs": {}}),
                            schema_problems, "nfs"),
    "another image": (_set("singleuser.image.name", "quay.io/jupyter/base-notebook"), image_problems, "image"),
    "another uid": (_set("singleuser.uid", 1001), image_problems, "uid"),
    "a profile as another user": (_set(f"{ROOTLESS}.extra_container_config.securityContext.runAsUser", 0),
                                  image_problems, "runs as uid 0"),
    "the course not copied": (_set("singleuser.lifecycleHooks.postStart.exec.command", ["true"]), image_problems,
                              "postStart"),
    "an unknown mode": (_set(f"{ROOTLESS}.environment.MINIDOCK_MODE", "rootles"), mode_problems, "rootles"),
    "two defaults": (_set("singleuser.profileList.1.default", True), mode_problems, "default"),
    "the store in the home": (_unset_env("MINIDOCK_ROOT"), store_problems, "minidock's store"),
    "the chapters off the store volume": (_unset_env("MINIDOCK_COURSE_DIR"), store_problems, "a chapter's store"),
    "a profile that drops extraEnv": (_set(f"{ROOTLESS}.environment", {"MINIDOCK_MODE": "rootless"}), store_problems,
                                      "replacing extraEnv): minidock's store"),
    "the store volume elsewhere": (_set("singleuser.storage.extraVolumeMounts.0.mountPath", "/srv/other"),
                                   store_problems, "a chapter's store"),
    "the progress file off the home": (_set("singleuser.storage.extraVolumeMounts.0.mountPath", "/home/jovyan/.local"),
                                       store_problems, "the progress file"),
    "a Kubernetes suffix the hub refuses": (_set("singleuser.memory.limit", "1Gi"), quantity_problems, "1Gi"),
    "a size Kubernetes refuses": (_set("singleuser.storage.extraVolumes.0.emptyDir.sizeLimit", "10 GB"),
                                  quantity_problems, "10 GB"),
    "a guarantee above the limit": (_set("singleuser.cpu.guarantee", 2), quantity_problems, "cpu"),
    "a guarantee below the learner": (_set("singleuser.memory.guarantee", "128M"), capacity_problems, "below"),
    "a new measurement": (_text(r"(\| `learner_memory` \| )[0-9.]+", r"\g<1>600"), capacity_problems, "below"),
    "a stale worked example": (_text(r"\| \*\*([0-9]+)\*\* \|", lambda m: f"| **{int(m[1]) + 1}** |"),
                               capacity_problems, "should read"),
    "a stale recorded count": (_text(r"(^\| \*\*rootless\*\*.*?)([0-9]+) of", lambda m: f"{m[1]}{int(m[2]) + 1} of"),
                               recorded_problems, "rootless"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_rule_fails_on_a_mutated_copy(name):
    mutate, rule, word = MUTATIONS[name]
    config, text = mutate(copy.deepcopy(values()), readme())
    problems = rule(config, text)
    assert any(word in problem for problem in problems), problems


def test_quantities_parse_as_kubernetes_and_the_hub_read_them():
    assert quantity("10Gi") == 10 * 2 ** 30 and quantity("512M") == 512 * 10 ** 6 and quantity("100m") == Decimal("0.1")
    assert quantity("1e3") == 1000 and byte_specification("1G") == 2 ** 30 and byte_specification("512M") == 512 << 20
    for bad in ("1 Gi", "Gi", "1gi", "-1", "1.2.3"):
        with pytest.raises(ValueError):
            quantity(bad)
    for bad in ("1Gi", "1", "G"):
        with pytest.raises(ValueError):
            byte_specification(bad)


def test_repo2docker_reads_binder_and_writes_a_dockerfile(tmp_path):
    """The README's build, up to the Dockerfile (``--no-build`` needs no Docker daemon): binder/ is what it reads."""
    options = build_command(readme())
    command = [str(Path(sys.executable).with_name("jupyter-repo2docker")), "--no-build", "--debug",
               "--user-id", options["--user-id"], "--user-name", options["--user-name"],
               "--target-repo-dir", options["--target-repo-dir"], "--image-name", options["--image-name"], str(REPO)]
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}   # never the host's daemon
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    dockerfile = result.stdout + result.stderr
    assert "binder/requirements.txt" in dockerfile and "./binder/postBuild" in dockerfile
    apt = [line.split("#")[0].strip() for line in (REPO / "binder" / "apt.txt").read_text().splitlines()]
    assert all(package in dockerfile for package in apt if package), "binder/apt.txt's packages"


@pytest.mark.root
def test_a_masked_proc_stops_a_new_proc_in_a_user_namespace():
    """Why the rootless profile asks for ``procMount: Unmasked``: the kernel lets a user namespace mount a new
    proc only where the proc it already sees is fully visible (fs/namespace.c, mount_too_revealing), and a
    runtime's default masks paths of it (a file bound over /proc/timer_list, one of runc's masked paths)."""
    nested = "unshare --user --pid --mount --fork --mount-proc true"
    plain = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", nested],
                           capture_output=True, text=True, timeout=30)
    masked = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                             f"mount --bind /dev/null /proc/timer_list && {nested}"],
                            capture_output=True, text=True, timeout=30)
    assert plain.returncode == 0, plain.stderr
    assert masked.returncode != 0 and "Operation not permitted" in masked.stderr, masked.stderr
