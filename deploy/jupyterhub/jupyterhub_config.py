"""JupyterHub for a class on one machine: local accounts, each learner's server in a sandbox of their own.

``make classroom`` (deploy/jupyterhub/classroom.py) and the hub test start ``jupyterhub -f`` this file as
root, with the settings below in the environment (each has a default for a teacher's own run):

=============================  ==========================================================  =====================
variable                       what                                                        default
=============================  ==========================================================  =====================
MINIDOCK_HUB_STATE             the hub's files: database, cookie secret, the proxy's pid    /var/lib/minidock-classroom
MINIDOCK_HUB_PORT              the public proxy, on 127.0.0.1 (learners log in there)       8000
MINIDOCK_HUB_API_PORT          the hub itself, on HUB_ADDRESS (learners' servers call it)   8081
MINIDOCK_HUB_PROXY_API_PORT    the proxy's REST API, on 127.0.0.1                           8001
MINIDOCK_CLASS_LEARNERS        the accounts that may log in, separated by spaces            (none)
MINIDOCK_HUB_SERVICE_TOKEN     a token for an admin service (tests, bench, scripts)         (no service)
CLASSROOM_PREFIX               the learners' environment (make classroom-env)               /opt/minidock-classroom
MINIDOCK_CLASS_REGISTRY        the class registry HOST:PORT, the learners' mirror           (none)
MINIDOCK_CLASS_REGISTRY_PASS   a root-only file with its read-only account's password       (none)
MINIDOCK_CLASS_MEMORY/CPUS/    each learner's limits: memory (JupyterHub's mem_limit),     1G, 1, 512
  PIDS                         CPUs (cpu_limit), processes (pids_limit)
MINIDOCK_CLASS_REFRESH         1: replace course files learners changed (theirs kept)     (keep theirs)
=============================  ==========================================================  =====================

Learners log in with their account's password (PAM, JupyterHub's default authenticator, which as root
can check /etc/shadow).  The proxy's auth token comes from ``CONFIGPROXY_AUTH_TOKEN`` (JupyterHub reads
it itself); without it the hub makes one per start.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # spawner.py beside this file

from minidock.classroom.sandbox import HUB_ADDRESS  # noqa: E402
from spawner import ClassroomSpawner  # noqa: E402

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
env = os.environ.get
state = Path(env("MINIDOCK_HUB_STATE", "/var/lib/minidock-classroom"))
state.mkdir(mode=0o700, parents=True, exist_ok=True)

# -- where things listen: the public proxy on 127.0.0.1, the hub where learners' netns reach it
c.JupyterHub.bind_url = f"http://127.0.0.1:{env('MINIDOCK_HUB_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://{HUB_ADDRESS}:{env('MINIDOCK_HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('MINIDOCK_HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

# -- the hub's own files, root's only
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

# -- who: the class's local accounts (PAM); stopping the hub stops every learner's server
c.Authenticator.allowed_users = set(env("MINIDOCK_CLASS_LEARNERS", "").split())
c.JupyterHub.cleanup_servers = True
if env("MINIDOCK_HUB_SERVICE_TOKEN"):
    c.JupyterHub.services = [{"name": "classroom-driver", "api_token": env("MINIDOCK_HUB_SERVICE_TOKEN")}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["classroom-driver"]}]

# -- each learner's server: JupyterLab from the classroom env, as the learner, in their sandbox
prefix = env("CLASSROOM_PREFIX", "/opt/minidock-classroom")
c.JupyterHub.spawner_class = ClassroomSpawner
c.ClassroomSpawner.prefix = prefix
c.Spawner.cmd = [f"{prefix}/bin/jupyterhub-singleuser"]
# of the hub's (root's) environment only the language: its PATH, PYTHONPATH or VIRTUAL_ENV would point a
# learner at root's Python, not the classroom env (the spawner sets PATH)
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.default_url = "/lab/tree/course/welcome.ipynb"
c.Spawner.notebook_dir = "~"
c.Spawner.mem_limit = env("MINIDOCK_CLASS_MEMORY", "1G")
c.Spawner.cpu_limit = float(env("MINIDOCK_CLASS_CPUS", "1"))
c.ClassroomSpawner.pids_limit = int(env("MINIDOCK_CLASS_PIDS", "512"))
c.ClassroomSpawner.registry = env("MINIDOCK_CLASS_REGISTRY", "")
c.ClassroomSpawner.registry_password_file = env("MINIDOCK_CLASS_REGISTRY_PASS", "")
c.ClassroomSpawner.refresh_course = env("MINIDOCK_CLASS_REFRESH", "") == "1"
# a class starting at once on a small machine: JupyterLab's first start takes a while
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
