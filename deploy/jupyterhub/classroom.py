"""``make classroom``: a class on this machine: accounts, the class registry, JupyterHub; Ctrl-C stops it.

``classroom.py start [--learners-file F] NAME...`` (as root):

1. creates each learner's local account (``useradd -m``) with a random password; the new passwords go to
   ``STATE/accounts`` (root only, 0600) and are printed once;
2. brings up the hub's address (``HUB_ADDRESS`` on the dummy link ``mdclass0``) and starts the class
   registry there (``minidock registry serve --auth token``): the teacher's account may push, the
   ``learner`` account (``--read-only-user``) only pull; the base image busybox is pushed as the teacher;
3. starts JupyterHub (deploy/jupyterhub/jupyterhub_config.py), its public proxy on 127.0.0.1:PORT, and
   waits; Ctrl-C (or SIGTERM) stops the hub (which stops every learner's server, and each server's sandbox
   goes with it), the registry and the hub's address.  The accounts stay: ``classroom.py remove`` (``make
   classroom-remove``) removes the ones ``start`` created, with their homes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from drive import Hub, free_port, request  # noqa: E402

REGISTRY_PORT = 5000
TEACHER, LEARNER = "teacher", "learner"   # the class registry's two accounts
BASE_IMAGES = ("busybox",)


def minidock(*args: str, env: dict, stdin: str | None = None) -> str:
    """Run the ``minidock`` command beside this Python; its output, or an error with what it said."""
    done = subprocess.run([str(Path(sys.executable).parent / "minidock"), *args], input=stdin, text=True,
                          capture_output=True, env={**os.environ, **env})
    if done.returncode != 0:
        raise RuntimeError(f"minidock {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class ClassRegistry:
    """The class registry on ``HUB_ADDRESS`` (port 0: a free one): token auth, ``teacher`` pushes,
    ``learner`` pulls only."""

    def __init__(self, state: Path, port: int = REGISTRY_PORT):
        from minidock.classroom.sandbox import HUB_ADDRESS
        port = port or free_port(HUB_ADDRESS)
        self.dir, self.address, self.process = state / "registry", f"{HUB_ADDRESS}:{port}", None
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.passwords = {user: self._password(user) for user in (TEACHER, LEARNER)}

    def _password(self, user: str) -> Path:
        """The file holding ``user``'s password (made once, root only)."""
        path = self.dir / f"{user}.password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(18) + "\n")
        return path

    def password(self, user: str) -> str:
        return self.passwords[user].read_text().strip()

    def start(self) -> "ClassRegistry":
        """Write the htpasswd file, serve, and wait until ``/v2/`` answers (401: it wants a token)."""
        import bcrypt
        htpasswd = self.dir / "htpasswd"
        htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(self.password(u).encode(), bcrypt.gensalt()).decode()}\n"
                                    for u in (TEACHER, LEARNER)))
        command = [str(Path(sys.executable).parent / "minidock"), "registry", "serve", "--addr", self.address,
                   "--root", str(self.dir / "data"), "--auth", "token", "--htpasswd", str(htpasswd),
                   "--read-only-user", LEARNER]
        log = open(self.dir / "registry.log", "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        for _ in range(100):
            try:
                request("GET", f"http://{self.address}/v2/", "")
            except OSError as e:
                if getattr(e, "code", None) == 401:
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the class registry did not start: {(self.dir / 'registry.log').read_text()[-2000:]}")

    def push_base_images(self) -> None:
        """Make the base images in a store of the teacher's and push them as ``library/NAME`` (what a mirror
        of Docker Hub serves for ``pull NAME``)."""
        env = {"MINIDOCK_ROOT": str(self.dir / "teacher-store"), "MINIDOCK_CONFIG": str(self.dir / "teacher-config")}
        config = self.dir / "teacher-config"
        config.mkdir(mode=0o700, exist_ok=True)
        (config / "config.json").write_text(f'{{"insecure-registries": ["{self.address}"]}}\n')
        minidock("login", "-u", TEACHER, "--password-stdin", self.address, env=env, stdin=self.password(TEACHER))
        for name in BASE_IMAGES:
            minidock("bootstrap", name, env=env)
            minidock("tag", name, f"{self.address}/library/{name}:latest", env=env)
            minidock("push", f"{self.address}/library/{name}:latest", env=env)

    def stop(self) -> None:
        """Stop the registry by its PID."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def create_accounts(names: list[str], state: Path) -> dict[str, str]:
    """Create each learner who has no account yet; their new passwords, also kept in ``STATE/accounts``."""
    from minidock.classroom import learners
    import pwd
    made = {}
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            made[name] = secrets.token_urlsafe(9)
            learners.create(name, password=made[name])
    if made:
        fd = os.open(state / "accounts", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{name} {password}\n" for name, password in made.items())
    return made


def remove_accounts(state: Path) -> list[str]:
    """Remove the accounts ``start`` created (listed in ``STATE/accounts``) and their homes."""
    from minidock.classroom import learners
    path = state / "accounts"
    names = [line.split()[0] for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    for name in names:
        learners.remove(name)
    path.unlink(missing_ok=True)
    return names


@contextlib.contextmanager
def running_class(state: Path, names: list[str], *, port: int | None = None, registry_port: int = REGISTRY_PORT,
                  settings: dict | None = None):
    """The hub's address, the class registry with the base images, and the hub for ``names``; yields
    ``(hub, registry)`` and stops them all afterwards (the hub first: it stops the learners' servers)."""
    from minidock.classroom.sandbox import hub_interface_down, hub_interface_up, leftovers
    hub_interface_up()
    registry = hub = None
    try:
        registry = ClassRegistry(state, registry_port).start()
        registry.push_base_images()
        hub = Hub(state / "hub", names, {"MINIDOCK_CLASS_REGISTRY": registry.address,
                                         "MINIDOCK_CLASS_REGISTRY_PASS": str(registry.passwords[LEARNER]),
                                         **(settings or {})})
        yield hub.start(port=port), registry
    finally:
        for part in (hub, registry):
            if part is not None:
                part.stop()
        if not leftovers():  # the hub's address goes only when no sandbox (of any class or test) needs it
            hub_interface_down()


def serve(args) -> int:
    """Accounts, the hub's address, the registry, the hub; wait until Ctrl-C, then stop what was started."""
    names = args.learners + (Path(args.learners_file).read_text().split() if args.learners_file else [])
    if not names:
        sys.exit("classroom: no learners: make classroom LEARNERS=\"ada grace\" (or LEARNERS_FILE=names.txt)")
    args.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, password in create_accounts(names, args.state).items():
        print(f"account {name}  password {password}")
    print(f"(new passwords are kept in {args.state / 'accounts'}, root only)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the class on `kill`, as on Ctrl-C,
    signal.signal(signal.SIGINT, signal.default_int_handler)  # and on Ctrl-C even if started where it was ignored
    try:
        with running_class(args.state, names, port=args.port, settings={"CLASSROOM_PREFIX": args.prefix}) as (hub, registry):
            print(f"class registry: http://{registry.address} (learners pull as '{LEARNER}', read-only)")
            print(f"JupyterHub: {hub.url}/ (log: {hub.state / 'jupyterhub.log'}); Ctrl-C stops the class")
            try:
                hub.process.wait()
            finally:
                print("stopping the class ...")
        return 1  # the hub ended by itself: its log says why
    except KeyboardInterrupt:
        return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    start = sub.add_parser("start", help="create the accounts, start the registry and the hub")
    start.add_argument("learners", nargs="*", help="the learners' account names")
    start.add_argument("--learners-file", help="a file of account names, separated by spaces or lines")
    start.add_argument("--prefix", default="/opt/minidock-classroom", help="the classroom environment")
    start.add_argument("--state", type=Path, default=Path("/var/lib/minidock-classroom"))
    start.add_argument("--port", type=int, default=8000, help="the public port on 127.0.0.1")
    remove = sub.add_parser("remove", help="remove the accounts start created")
    remove.add_argument("--state", type=Path, default=Path("/var/lib/minidock-classroom"))
    args = parser.parse_args(argv)
    if args.what == "remove":
        print("removed:", " ".join(remove_accounts(args.state)) or "no accounts")
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
