"""Images: what an image is on disk and on the wire, with no container in sight.

Digests and short IDs, references (``docker.io/library/busybox:latest``), the
content-addressed store with its lock and atomic writes, layer tars (whiteouts,
tar-split, compression), image configs and history, save/load and
import/export archives, ``--change`` lines and the bootstrapped ``busybox``.

May use: the flat modules (``errors``, ``display``, ``progress``) and, for
file operations that rootless mode must do inside a user namespace, ``runtime``.
"""
