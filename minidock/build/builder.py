"""``build``: a Dockerfile, step by step, each step an image on top of the last (Docker's classic builder).

The seed says every instruction makes a layer.  More exactly (and as Docker
records it): every instruction makes an *image*, the previous one plus a
change; only RUN, COPY and ADD change files and so add a filesystem layer,
the others change only the config and add a history entry marked
``empty_layer``.  ``minidock history`` shows both kinds.

* **RUN** runs in a real container of the previous step's image (no
  network: this machine has none), and its writable layer becomes the layer.
* **COPY/ADD** lay the files out in a temp dir and make it a layer.
* The **cache**: a step is reused when the image it starts from, the
  instruction (after variable expansion, with the build args it sees) and,
  for COPY/ADD, the content of what it copies are the same as in an earlier
  build (``ROOT/build-cache.json``).  So editing one file reruns exactly the
  steps from its COPY on.  ``--cache-from IMAGE`` reuses the steps of an image built
  elsewhere, matched by its history (``cachefrom.py``).
* **Multi-stage**: ``FROM ... AS name`` starts a stage; ``COPY --from=name``
  copies from its result; only the last stage (or ``--target``) is tagged.
* With ``SOURCE_DATE_EPOCH`` every timestamp is that time, so building the
  same context twice gives the same image ID.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..containers.config import Config, HostConfig
from ..containers.container import Containers
from ..display import rfc3339
from ..errors import MinidockError, NotFound
from ..images.archive import source_date_epoch
from ..images.image import Images, check_depth
from ..images.reference import parse
from . import dockerfile as dfile
from . import history, imageconfig
from .cachefrom import Sources
from .context import BuildError, Context, copy_into, sources_hash

CACHE = "build-cache.json"
DEFAULT_SHELL = ["/bin/sh", "-c"]
METADATA = {"MAINTAINER", "EXPOSE", "CMD", "ENTRYPOINT", "ENV", "ARG", "WORKDIR", "LABEL", "USER", "VOLUME",
            "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD"}

Say = Callable[[str], None]


@dataclass
class StageState:
    """Where a stage stands: its current image, config, and the variables its steps see."""
    image_id: str | None
    config: dict
    args: dict[str, str | None] = field(default_factory=dict)   # ARGs declared in this stage
    cmd_set: bool = False  # whether this stage set CMD itself

    @property
    def container_config(self) -> dict:
        return self.config.setdefault("config", {})

    def env(self) -> dict[str, str]:
        """What ``$VAR`` means in this stage: its ARGs, overridden by its ENV (Docker's rule)."""
        values = {k: v for k, v in self.args.items() if v is not None}
        for item in self.container_config.get("Env") or []:
            k, _, v = item.partition("=")
            values[k] = v
        return values


# What ``docker build``'s flags (the Engine API's /build parameters t, buildargs, nocache, target,
# labels, networkmode, extrahosts, cachefrom) ask of one build.  A RUN's network is "none" unless asked:
# this machine has none.
BuildOptions = namedtuple("BuildOptions",
                          "tags build_args no_cache target labels network_mode extra_hosts cache_from",
                          defaults=((), {}, False, None, {}, "none", (), ()))


class Builder:
    """One ``minidock build``."""

    def __init__(self, images: Images, containers: Containers, context: Path, dockerfile: dfile.Dockerfile,
                 options: BuildOptions = BuildOptions(), say: Say = print):
        self.images, self.containers = images, containers
        self.context, self.df = context if isinstance(context, Context) else Context(context), dockerfile
        self.build_args, self.no_cache, self.target = dict(options.build_args), options.no_cache, options.target
        self.labels, self.say, self.network_mode = dict(options.labels), say, options.network_mode
        self.extra_hosts = list(options.extra_hosts)   # --add-host: in each RUN's /etc/hosts
        self.sources = Sources(images, () if options.no_cache else options.cache_from)
        self.epoch = source_date_epoch()
        self.stages: dict[str, str] = {}       # stage name or index -> its image ID
        self.used_args: set[str] = set()
        self.flat_roots: list[Path] = []      # images flattened for COPY --from, removed by close()
        self.meta = {}                           # ARGs before the first FROM
        for ins in dockerfile.meta_args:
            for key, value in _checked(dockerfile, ins, dfile.key_values, ins.args[0], {}, dockerfile.escape,
                                       legacy_env=False, instruction="ARG"):
                self.meta[key] = self.build_args.get(key, value)
                self.used_args.add(key)

    # -- the whole build --------------------------------------------------

    def build(self) -> str:
        stages = list(self.df.stages)
        if self.target is not None:
            names = [s.name for s in stages]
            if self.target.lower() not in names:
                raise BuildError(f"failed to reach build target {self.target} in Dockerfile")
            stages = stages[: names.index(self.target.lower()) + 1]
        # --label: dockerd adds one LABEL step per label, sorted, to the last stage (buildLabelOptions)
        # (a LABEL "in exec form" is this key and value as given, never parsed: NewLabelCommand's NoExp)
        labels = [dfile.Instruction("LABEL", (k, v), {}, True, 0, f"LABEL {k}={v}")
                  for k, v in sorted(self.labels.items())]
        total = sum(len(s.instructions) for s in stages) + len(labels)
        step, image_id = 0, ""
        for stage in stages:
            state = None
            for ins in (*stage.instructions, *(labels if stage is stages[-1] else ())):
                step += 1
                self.say(f"Step {step}/{total} : {ins.original}")
                state = self._from(stage, ins) if ins.cmd == "FROM" else self._step(state, ins)
                self.say(f" ---> {state.image_id.split(':')[1][:12]}")
            image_id = state.image_id
            self.stages[str(stage.index)] = image_id
            if stage.name:
                self.stages[stage.name] = image_id
        unused = sorted(set(self.build_args) - self.used_args)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        return image_id

    # -- FROM -------------------------------------------------------------

    def _from(self, stage: dfile.Stage, ins: dfile.Instruction) -> StageState:
        name = self._expand(ins, stage.base, self.meta)
        if name.lower() in self.stages:
            image_id = self.stages[name.lower()]
        elif name == "scratch":
            return self._scratch()
        else:
            try:
                image_id = self.images.resolve(name)
            except NotFound:
                from ..registry import distribution
                image_id = distribution.pull(self.images, name, say=self.say)
        state = StageState(image_id, self.images.store.blob_json(image_id))
        for trigger in state.container_config.pop("OnBuild", None) or []:
            self.say(f"# Executing 1 build trigger: {trigger}")
            (triggered,) = dfile.parse(f"FROM scratch\n{trigger}\n", "ONBUILD").stages[0].instructions[1:]
            state = self._step(state, triggered)
        return state

    def _scratch(self) -> StageState:
        """``FROM scratch``: an image of no layers at all."""
        config = {"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        return StageState(self.images.add(data), config)

    # -- the other instructions -------------------------------------------

    def _step(self, state: StageState, ins: dfile.Instruction) -> StageState:
        if ins.cmd == "RUN":
            return self._run(state, ins)
        if ins.cmd in ("COPY", "ADD"):
            return self._copy(state, ins)
        if ins.cmd == "ARG":
            return self._arg(state, ins)
        if ins.cmd == "WORKDIR":
            return self._workdir(state, ins)
        text, change = self._metadata(state, ins)
        return self._cached(state, ins, text, lambda: self._commit_config(state, text, change),
                            probe=lambda: self._configured(state, text, change))

    def _arg(self, state: StageState, ins: dfile.Instruction) -> StageState:
        """``ARG name[=default]``: --build-arg wins, then the default, then a same-named ARG before FROM."""
        pairs = _checked(self.df, ins, dfile.key_values, ins.args[0], state.env(), self.df.escape,
                         legacy_env=False, instruction="ARG")
        for key, default in pairs:
            self.used_args.add(key)
            if key in self.build_args:
                state.args[key] = self.build_args[key]
            else:
                state.args[key] = default if default is not None else self.meta.get(key)
        text = "ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in pairs)
        return self._cached(state, ins, text, lambda: self._commit_config(state, text, lambda c: None),
                            probe=lambda: self._configured(state, text, lambda c: None))

    def _metadata(self, state: StageState, ins: dfile.Instruction) -> tuple[str, Callable[[dict], None]]:
        """What a config-only instruction records in the history, and how it changes the config."""
        env, esc = state.env(), self.df.escape
        cmd, arg = ins.cmd, (ins.args[0] if ins.args else "")
        if cmd == "MAINTAINER":
            state.config["author"] = arg  # a top-level field, not the container config's
            return f"MAINTAINER {arg}", lambda c: None
        if cmd in ("CMD", "ENTRYPOINT"):
            argv = list(ins.args) if ins.json else self._shell(state) + [arg]
            keep_cmd = state.cmd_set  # a new ENTRYPOINT drops a CMD inherited from the base, not one set here
            state.cmd_set = state.cmd_set or cmd == "CMD"
            return f"{cmd} {history.go_quoted_list(argv)}", lambda c: imageconfig.set_command(c, cmd, argv, keep_cmd)
        if cmd == "SHELL":
            return f"SHELL {history.go_list(list(ins.args))}", lambda c: c.update(Shell=list(ins.args))
        if cmd == "HEALTHCHECK":
            check = imageconfig.healthcheck(ins)
            return f"HEALTHCHECK {history.healthcheck_text(check)}", lambda c: imageconfig.set_healthcheck(c, check)
        if cmd == "ONBUILD":
            return f"ONBUILD {arg}", lambda c: c.setdefault("OnBuild", []).append(arg)
        if cmd == "LABEL" and ins.json:
            pairs = [tuple(ins.args)]
            return f"LABEL {ins.args[0]}={ins.args[1]}", lambda c: imageconfig.set_pairs(c, cmd, pairs)
        if cmd in ("ENV", "LABEL"):
            pairs = _checked(self.df, ins, dfile.key_values, arg, env, esc, instruction=cmd)
            return f"{cmd} " + " ".join(f"{k}={v}" for k, v in pairs), lambda c: imageconfig.set_pairs(c, cmd, pairs)
        if cmd in ("USER", "WORKDIR", "STOPSIGNAL"):  # Docker keeps their blanks: one word, expanded
            words = [_checked(self.df, ins, dfile.expand, arg, env, esc)]
        else:
            words = list(ins.args) if ins.json else _checked(self.df, ins, dfile.expand_words, arg, env, esc)
        if cmd == "VOLUME":
            return f"VOLUME {history.go_list(words)}", lambda c: imageconfig.set_words(c, cmd, words)
        return f"{cmd} {' '.join(words)}", lambda c: imageconfig.set_words(c, cmd, words)

    def _shell(self, state: StageState) -> list[str]:
        return list(state.container_config.get("Shell") or DEFAULT_SHELL)

    def _expand(self, ins: dfile.Instruction, word: str, env: dict) -> str:
        return _checked(self.df, ins, dfile.expand, word, env, self.df.escape)

    # -- images of each step ------------------------------------------------

    def _cached(self, state: StageState, ins: dfile.Instruction, text: str, make: Callable[[], StageState],
                extra: str = "", probe: Callable[[], tuple[str, dict]] | None = None) -> StageState:
        """Reuse the image an earlier build made for this same step on this same image, or one of
        ``--cache-from``'s, or make it.  ``probe()``: the step's history line and its image's config, for
        matching a cache-from source without running the step."""
        key = hashlib.sha256(json.dumps([state.image_id, text, extra, sorted(state.env().items())])
                             .encode()).hexdigest()
        cache = self.images.store.read_json(CACHE, {})
        new = None
        if not self.no_cache and key in cache:
            try:
                image_id = self.images.resolve(cache[key])
                config = self.images.store.blob_json(image_id)
                if not self.sources or self.sources.lead_to(config):
                    self.say(" ---> Using cache")
                    return StageState(image_id, config, dict(state.args), state.cmd_set)
            except MinidockError:
                pass  # the cached image was removed since
        if self.sources and probe is not None:
            found = self.sources.reuse(state.image_id, state.config, *probe())
            if found:
                self.say(" ---> Using cache")
                new = StageState(*found, dict(state.args), state.cmd_set)
        new = new or make()
        with self.images.store.lock():
            cache = self.images.store.read_json(CACHE, {})
            cache[key] = new.image_id
            self.images.store.write_json(CACHE, cache)
        return new

    def _history(self, created_by: str, empty: bool) -> dict:
        entry = {"created": self._now(), "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        return entry

    def _now(self) -> str:
        return rfc3339(self.epoch if self.epoch is not None else time.time())

    def _commit_config(self, state: StageState, text: str, change: Callable[[dict], None]) -> StageState:
        """A new image: the same layers, the config changed, a history entry marked empty_layer."""
        created_by, config = self._configured(state, text, change)
        return self._add(state, config, created_by, empty=True)

    def _configured(self, state: StageState, text: str, change: Callable[[dict], None]) -> tuple[str, dict]:
        """A config-only step's history line and config (its shell the one the step leaves)."""
        config = json.loads(json.dumps(state.config))
        change(config.setdefault("config", {}))
        return history.nop(config["config"].get("Shell") or DEFAULT_SHELL, text), config

    def _add(self, state: StageState, config: dict, created_by: str, empty: bool,
             diff_id: str | None = None) -> StageState:
        config["created"] = self._now()
        config.setdefault("history", []).append(self._history(created_by, empty))
        if diff_id is not None:
            config["rootfs"]["diff_ids"].append(diff_id)
            check_depth(len(config["rootfs"]["diff_ids"]))
        config.pop("container", None)
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image_id = self.images.add(data, parent=state.image_id)
        return StageState(image_id, config, dict(state.args), state.cmd_set)

    # -- RUN --------------------------------------------------------------

    def _run(self, state: StageState, ins: dfile.Instruction) -> StageState:
        """The build args in force go into the RUN's environment and its history line, but not those an
        ENV of the same name overrides (dockerd's ``FilterAllowed``)."""
        argv = list(ins.args) if ins.json else self._shell(state) + [ins.args[0]]
        env_names = {e.partition("=")[0] for e in state.container_config.get("Env") or []}
        args = {k: v for k, v in state.args.items() if v is not None and k not in env_names}
        text = history.run_text(argv, args)
        build_env = [f"{k}={v}" for k, v in sorted(args.items())]
        return self._cached(state, ins, text, lambda: self._run_container(state, argv, build_env, text),
                            probe=lambda: (text, json.loads(json.dumps(state.config))))

    def _run_container(self, state: StageState, argv: list[str], build_env: list[str], text: str) -> StageState:
        cfg = state.container_config
        config = Config(Image=state.image_id, Cmd=argv, Entrypoint=[], Env=build_env,
                        WorkingDir=cfg.get("WorkingDir") or "", User=cfg.get("User") or None)
        cid = self.containers.create(config, HostConfig(NetworkMode=self.network_mode, ExtraHosts=self.extra_hosts))
        self.say(f" ---> Running in {cid[:12]}")
        try:
            code = self._attached(cid)
            if code != 0:
                raise RunFailed(argv, code)
            config = json.loads(json.dumps(state.config))
            with self.images.store.temp_path() as tmp:
                layer = self.containers.writable_layer(cid, tmp)
                if not any(layer.iterdir()):  # no change: dockerd's commit of an empty diff adds no layer
                    new = self._add(state, config, text, empty=True)
                else:
                    new = self._add_layer(state, config, text, layer)
        finally:
            # dockerd keeps a failed step's container (unless --force-rm); minidock leaves none behind,
            # and says so only where dockerd does: after a step that succeeded
            self.containers.remove(cid, force=True, volumes=True)   # with the anonymous volumes of a VOLUME
        self.say(f"Removing intermediate container {cid[:12]}")
        return new

    def _attached(self, cid: str) -> int:
        """Start the container, print its output as it comes, return its exit code."""
        code, pending = 255, b""
        for stream, data in self.containers.start_attached(cid):
            if stream == 3:
                code = int(data)
                continue
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.say(line.decode(errors="replace"))
        if pending:
            self.say(pending.decode(errors="replace"))
        return code

    # -- COPY and ADD -----------------------------------------------------

    def _copy(self, state: StageState, ins: dfile.Instruction) -> StageState:
        words = list(ins.args) if ins.json else _checked(self.df, ins, dfile.expand_words, ins.args[0],
                                                         state.env(), self.df.escape)
        if len(words) < 2:
            raise dfile.DockerfileError(self.df.filename, ins.line, f"{ins.cmd} requires at least two arguments")
        *srcs, dest = words
        written = dest
        if ins.cmd == "ADD" and any("://" in s for s in srcs):
            raise BuildError("ADD failed: a URL source needs the network, which this machine has not")
        workdir = state.container_config.get("WorkingDir") or "/"
        dest = dest if dest.startswith("/") else os.path.join(workdir, dest) + ("/" if dest.endswith("/") else "")
        root, ctx = self._source_root(ins)
        with tempfile.TemporaryDirectory(dir=self.images.store.tmp, prefix=f"{os.getpid()}-") as tmp:
            ctx_obj = ctx or Context(root)
            picked = [_followed(ctx_obj, rel, ins.cmd) for src in srcs for rel in ctx_obj.sources(src, ins.cmd)]
            source = sources_hash(ctx_obj, picked, from_context=ctx is not None)
            text = f"{ins.cmd} {json.dumps(srcs)} {dest} {json.dumps(ins.flags, sort_keys=True)}"
            created_by = history.nop_files(self._shell(state), history.copy_text(ins.cmd, ins.flags.get("chown"),
                                                                                 source, written))
            return self._cached(state, ins, text, lambda: self._lay_out_copy(state, ins, ctx_obj, picked, dest,
                                                                              Path(tmp), created_by), extra=source,
                                probe=lambda: (created_by, json.loads(json.dumps(state.config))))

    def _source_root(self, ins: dfile.Instruction):
        """The tree a COPY reads: the context, or (``--from``) a stage's or an image's files, flattened."""
        source = ins.flags.get("from")
        if not source:
            return self.context.root, self.context
        image_id = self.stages.get(source.lower()) or self.images.resolve(source)
        from ..containers.unionfs import UnionView
        flat = Path(tempfile.mkdtemp(dir=self.images.store.tmp, prefix=f"{os.getpid()}-from-"))
        rec = self.images.record(image_id)
        UnionView([self.images.store.layer_dir(c) / "diff" for c in rec.chain_ids]).flatten(flat / "root")
        self.flat_roots.append(flat)
        return flat / "root", None

    def _lay_out_copy(self, state: StageState, ins: dfile.Instruction, ctx: Context,
                      picked: list[tuple[str, list[str], str]], dest: str, tmp: Path, created_by: str) -> StageState:
        owner = _owner(ins.flags.get("chown"), self.images, state.image_id)
        chmod = int(ins.flags["chmod"], 8) if ins.flags.get("chmod") else None
        to_dir = dest.endswith("/") or len(picked) > 1 or any((ctx.root / rel).is_dir() and
                                                               not (ctx.root / rel).is_symlink() for rel, *_ in picked)
        layer = tmp / "layer"
        layer.mkdir()
        pairs = []
        for rel, files, name in picked:
            is_dir = (ctx.root / rel).is_dir() and not (ctx.root / rel).is_symlink()
            if ins.cmd == "ADD" and _is_archive(ctx.root / rel):
                _extract_archive(ctx.root / rel, layer / dest.lstrip("/"))
            elif is_dir:  # a directory's contents go into dest, not the directory itself
                pairs += [(f, os.path.join(dest, os.path.relpath(f, rel))) for f in files if f != rel]
            else:
                pairs.append((rel, os.path.join(dest, name) if to_dir else dest))
        copy_into(ctx.root, pairs, layer, owner, chmod)
        return self._add_layer(state, json.loads(json.dumps(state.config)), created_by, layer, owner or (0, 0))

    # -- WORKDIR ------------------------------------------------------------

    def _workdir(self, state: StageState, ins: dfile.Instruction) -> StageState:
        """dockerd makes a WORKDIR's directory in a container of the step and commits it (``dispatchWorkdir``):
        a layer when the directory was missing, no layer (an empty diff) when it was there."""
        word = self._expand(ins, ins.args[0], state.env())
        path = os.path.normpath(os.path.join(state.container_config.get("WorkingDir") or "/", word))
        text = f"WORKDIR {path}"
        return self._cached(state, ins, text, lambda: self._make_workdir(state, path, text),
                            probe=lambda: self._configured_workdir(state, path, text))

    def _configured_workdir(self, state: StageState, path: str, text: str) -> tuple[str, dict]:
        config = json.loads(json.dumps(state.config))
        config.setdefault("config", {})["WorkingDir"] = path
        return history.nop_files(self._shell(state), text), config

    def _make_workdir(self, state: StageState, path: str, text: str) -> StageState:
        from ..containers.unionfs import UnionView
        created_by, config = self._configured_workdir(state, path, text)
        view = UnionView([self.images.store.layer_dir(c) / "diff" for c in self.images.record(state.image_id).chain_ids])
        found = view.lookup(path)
        if found is not None and found.kind == "dir":
            return self._add(state, config, created_by, empty=True)
        with tempfile.TemporaryDirectory(dir=self.images.store.tmp, prefix=f"{os.getpid()}-") as tmp:
            layer, parts = Path(tmp) / "layer", path.strip("/").split("/")
            for i in range(1, len(parts) + 1):   # the missing directories 0755 root, their parents as they are
                made = layer.joinpath(*parts[:i])
                made.mkdir(parents=True)
                there = view.real_path("/" + "/".join(parts[:i]))
                if there is not None and there.is_dir() and not there.is_symlink():
                    st = there.stat()
                    os.chmod(made, stat.S_IMODE(st.st_mode))
                    if os.geteuid() == 0:
                        os.chown(made, st.st_uid, st.st_gid)
            return self._add_layer(state, config, created_by, layer, (0, 0))

    def _add_layer(self, state: StageState, config: dict, created_by: str, layer: Path,
                   owner: tuple[int, int] | None = None) -> StageState:
        """A new image: ``layer`` (a directory) on top of the step's image; ``owner``: the files' owner in
        the tar where we could not chown them (rootless)."""
        parent = self.images.record(state.image_id).chain_ids
        chain = self.images.add_dir_layer(layer, parent[-1] if parent else None, epoch=self.epoch,
                                          **({"owner": owner} if owner and os.geteuid() != 0 else {}))
        return self._add(state, config, created_by, empty=False, diff_id=self.images.layer_meta(chain)["diff_id"])

    def close(self) -> None:
        from ..images.store import remove_tree
        for flat in self.flat_roots:
            remove_tree(flat)


def _followed(ctx: Context, rel: str, instruction: str) -> tuple[str, list[str], str]:
    """A COPY/ADD source, a symlink followed within the context as dockerd does (``copyInfoForFile``
    resolves it in scope, then copies what it names: ``COPY --from=build /usr/bin/app /`` copies the
    program, not a link to it); its files; and the name it is copied under (the one written)."""
    real = ctx.resolve(rel) if (ctx.root / rel).is_symlink() else rel
    if real is None or not os.path.lexists(ctx.root / real):
        raise BuildError(f"{instruction} failed: file not found in build context or excluded by .dockerignore: "
                         f"stat {rel}: file does not exist")
    return real, ctx.files_under(real), os.path.basename(rel)


class RunFailed(BuildError):
    """A RUN's command exited non-zero: ``docker build`` exits with the command's own status (dockerd sends
    it as the error's code), and says the command as the container ran it."""

    def __init__(self, argv: list[str], code: int):
        super().__init__(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
        self.code = self.exit_code = code


def _checked(df: dfile.Dockerfile, ins: dfile.Instruction, fn, *args, **kwargs):
    """Call one of the parser's word functions; a ValueError becomes ``Dockerfile:LINE: message``."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise dfile.DockerfileError(df.filename, ins.line, str(e)) from None


def _owner(spec: str | None, images: Images, image_id: str) -> tuple[int, int] | None:
    """``--chown=user[:group]``: numbers, or names looked up in the image's /etc/passwd and /etc/group."""
    if not spec:
        return (0, 0)
    user, _, group = spec.partition(":")
    uid = _lookup(user, "etc/passwd", images, image_id)
    gid = _lookup(group, "etc/group", images, image_id, by_user=False) if group else uid
    return uid, gid


def _lookup(name: str, table: str, images: Images, image_id: str, by_user: bool = True) -> int:
    if name.isdigit():
        return int(name)
    from ..containers.unionfs import UnionView
    view = UnionView([images.store.layer_dir(c) / "diff" for c in images.record(image_id).chain_ids])
    try:
        with view.open(table) as f:
            for line in f.read().decode(errors="replace").splitlines():
                fields = line.split(":")
                if fields[0] == name and len(fields) > 2:
                    return int(fields[2])
    except (OSError, AttributeError):
        pass
    raise BuildError(f"unable to convert {'uid' if by_user else 'gid'}/{'gid' if by_user else 'uid'} "
                     f"for chown: no such {'user' if by_user else 'group'} {name!r} in the image")


def _is_archive(path: Path) -> bool:
    """ADD unpacks a local tar (plain, gzip, bzip2, xz); any other file is copied."""
    if not path.is_file() or path.is_symlink():
        return False
    from ..images import compression
    with open(path, "rb") as f:
        head = f.read(512)
    return head[257:262] == b"ustar" or compression.is_compressed(head[:6])


def _extract_archive(path: Path, dest: Path) -> None:
    from ..images.layer import apply_layer_tar
    with open(path, "rb") as f:
        apply_layer_tar(f, dest, whiteouts="keep")


def build(images: Images, containers: Containers, context: Path, dockerfile_text: str,
          dockerfile_name: str = "Dockerfile", options: BuildOptions = BuildOptions(), say: Say = print) -> str:
    """Build an image; return its ID (``tag_built`` then says so and tags it)."""
    for tag in options.tags:
        parse(tag)  # a bad tag is reported before anything is built
    df = dfile.parse(dockerfile_text, dockerfile_name)
    builder = Builder(images, containers, context, df, options, say)
    try:
        image_id = builder.build()
    finally:
        builder.close()
    return image_id


def tag_built(images: Images, image_id: str, tags: list[str], say: Say = print) -> None:
    """The end of a build: "Successfully built", then each tag given."""
    say(f"Successfully built {image_id.split(':')[1][:12]}")
    for tag in tags:
        ref = images.tag(image_id, tag)
        say(f"Successfully tagged {ref.familiar()}")
