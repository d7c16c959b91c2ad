"""``ClassroomSpawner``: each learner's JupyterLab as that learner, in a sandbox of their own.

JupyterHub's ``LocalProcessSpawner`` forks the learner's ``jupyterhub-singleuser``, drops to the
learner's uid in the child (``make_preexec_fn``) and execs.  This spawner adds, per learner, a
``minidock.classroom.sandbox.Sandbox`` (docs/classroom.md, "Each learner's sandbox"):

* a **cgroup** with the spawner's own ``mem_limit`` and ``cpu_limit`` (JupyterHub's traits, which
  ``LocalProcessSpawner`` leaves unenforced) and ``pids_limit``: the server, its kernels and the
  learner's rootless containers (its children) all count against them;
* a **network namespace** whose one address is ``sandbox.address``: the server listens there, the proxy
  (host side) reaches it there, and from inside it the learner reaches only ``HUB_ADDRESS`` on the host,
  where the hub's API and the class registry listen.

The child joins both (``sandbox.enter()``) as root, *before* the parent's preexec drops to the learner:
after ``setuid`` it could no longer move itself into a cgroup or namespace.  Before the first start the
learner's home gets the course and the class registry's read-only credentials, written by a program run
*as the learner* (``learner_home.py``): root writing into a home the learner controls could be sent
through a symlink anywhere.
"""

from __future__ import annotations

import asyncio
import pwd
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Bool, Integer, Unicode

from minidock.classroom.sandbox import HUB_ADDRESS, LAST_INDEX, Limits, Sandbox


def sandbox_index(uid: int) -> int:
    """A learner's sandbox index (1..LAST_INDEX), stable across restarts of the hub: from the learner's
    uid (useradd counts from 1000), so two learners share one only 16382 uids apart."""
    return (uid - 1000) % LAST_INDEX + 1


def sandbox_of(learner: str) -> Sandbox:
    """The sandbox the spawner gives ``learner`` (to look at its usage, or what is left of it)."""
    return Sandbox(learner, sandbox_index(pwd.getpwnam(learner).pw_uid))


class ClassroomSpawner(LocalProcessSpawner):
    """``LocalProcessSpawner`` with a cgroup and a network namespace per learner (the module says why)."""

    pids_limit = Integer(512, config=True,
                         help="Most processes (and threads) a learner's server, kernels and containers may have.")
    prefix = Unicode("/opt/minidock-classroom", config=True,
                     help="The classroom environment (make classroom-env): its bin/ is first on the learner's PATH.")
    registry = Unicode("", config=True,
                       help="The class registry HOST:PORT (on HUB_ADDRESS), the learners' mirror for `pull busybox`.")
    registry_user = Unicode("learner", config=True, help="The class registry's read-only account, for learners.")
    registry_password_file = Unicode("", config=True, help="A root-only file holding that account's password.")
    course_dir = Unicode("course", config=True, help="Where in the learner's home the course's notebooks go.")
    refresh_course = Bool(False, config=True,
                          help="On each start, replace course files a learner changed (theirs kept as NAME.~N~).")

    def sandbox(self) -> Sandbox:
        """This learner's sandbox (the same object start and stop use)."""
        if getattr(self, "_sandbox", None) is None:
            self._sandbox = sandbox_of(self.user.name)
        return self._sandbox

    def limits(self) -> Limits:
        """The learner's limits, from JupyterHub's ``mem_limit``/``cpu_limit`` and ``pids_limit``."""
        return Limits(memory=self.mem_limit or None, cpus=self.cpu_limit or None, pids=self.pids_limit or None)

    async def start(self):
        """Prepare the home, make the sandbox, then start the server in it, listening on its address."""
        await self.prepare_home()
        sandbox = self.sandbox().create(self.limits())
        self.ip = sandbox.address
        try:
            return await super().start()
        except BaseException:
            sandbox.destroy()
            raise

    async def stop(self, now=False):
        """Stop the server as JupyterHub does, then remove the sandbox with whatever is left in it."""
        try:
            await super().stop(now=now)
        finally:
            self.sandbox().destroy()

    def make_preexec_fn(self, name):
        """Join the sandbox as root, then become the learner (JupyterHub's own preexec)."""
        become_learner = super().make_preexec_fn(name)
        sandbox = self.sandbox()

        def preexec():
            sandbox.enter()
            become_learner()
        return preexec

    def get_env(self):
        """The learner's environment: the classroom env first on PATH, chapter stores under the home,
        the class registry as the mirror; the hub's API is at ``HUB_ADDRESS`` (``hub_bind_url``)."""
        env = super().get_env()
        home = Path(env.get("HOME") or pwd.getpwnam(self.user.name).pw_dir)
        env["PATH"] = f"{self.prefix}/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
        env["MINIDOCK_COURSE_DIR"] = str(home / ".local" / "share" / "minidock-course")
        env["VIRTUAL_ENV"] = self.prefix
        if self.registry:
            env["MINIDOCK_REGISTRY_MIRROR"] = f"http://{self.registry}"
        if HUB_ADDRESS not in env["JUPYTERHUB_API_URL"]:
            raise RuntimeError(f"the hub's API must listen on {HUB_ADDRESS} (hub_bind_url), "
                               f"the only host address a learner's server reaches; it is {env['JUPYTERHUB_API_URL']}")
        return env

    async def prepare_home(self) -> None:
        """Copy the course in (never over a learner's edits) and save the registry credentials, as the learner."""
        command = [f"{self.prefix}/bin/python", f"{self.prefix}/share/minidock-classroom/learner_home.py",
                   "--course", f"{self.prefix}/share/minidock-classroom/course", "--into", self.course_dir]
        if self.refresh_course:
            command.append("--refresh")
        password = ""
        if self.registry and self.registry_password_file:
            password = Path(self.registry_password_file).read_text().strip()
            command += ["--registry", self.registry, "--registry-user", self.registry_user]
        home = pwd.getpwnam(self.user.name).pw_dir
        child = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=set_user_setuid(self.user.name), cwd=home,
            env={"HOME": home, "PATH": f"{self.prefix}/bin:/usr/bin:/bin", "LANG": "C.UTF-8"})
        out, err = await asyncio.wait_for(child.communicate(password.encode()), timeout=120)
        if child.returncode != 0:
            raise RuntimeError(f"preparing {self.user.name}'s home failed: {err.decode().strip()[-2000:]}")
        self.log.info("%s's home: %s", self.user.name, out.decode().strip())
