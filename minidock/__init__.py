"""minidock: a small but complete container engine, written to be read.

Start with ``client = minidock.from_env()``, as with the Docker SDK for Python.

The folders are the architecture, as Docker is a client, a daemon, containerd and runc:
``LAYERS`` says what each package may import (``tests/test_architecture.py`` holds every
module to it, and ``docs/architecture.md`` draws it).
"""

__version__ = "0.1.0"

__all__ = ["Client", "from_env", "__version__", "LAYERS", "FLAT"]

# Every package may use these four modules, which import nothing of minidock but each other.
FLAT = ("errors", "display", "progress", "httpd")

# package -> the packages its modules may import, top to bottom; data flows one way:
# cli, course -> api -> build -> containers, registry -> images -> runtime; classroom -> runtime.
LAYERS = {
    "cli": ("api",),
    "course": ("api",),
    "api": ("build", "containers", "registry", "images", "runtime"),
    "build": ("containers", "registry", "images"),
    "containers": ("images", "runtime"),
    "registry": ("images",),
    "images": ("runtime",),
    "runtime": (),
    "classroom": ("runtime",),  # root's side of a class: learners' accounts, network namespaces, cgroups
}


def __getattr__(name: str):
    """``minidock.Client``, ``minidock.from_env`` and the modules (``minidock.errors``, as docker-py's
    ``docker.errors``), imported on first use (PEP 562): the command line, or a notebook that
    imports one module, need not load the whole API."""
    import importlib
    if name in ("Client", "from_env"):
        return getattr(importlib.import_module(".api.client", __name__), name)
    if not name.startswith("__"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":  # the module exists, something it imports does not
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
