"""The daemon: minidock's engine served over the Docker Engine API, as ``dockerd`` serves Docker's.

Docker is a client and a daemon: the ``docker`` command only speaks HTTP to ``dockerd`` over a unix
socket (``/run/docker.sock``), and every "Error response from daemon: ..." it prints is the body of an
HTTP error.  ``minidock daemon`` plays ``dockerd``'s part on the same engine the ``minidock`` command
uses, so the unmodified ``docker`` CLI and the Docker SDK for Python (``docker.from_env()``) drive it:

* ``server.py`` -- HTTP/1.1 on the socket: routes, API versions (``/v1.41/...``), Docker's JSON
  errors and status codes, streams (chunked JSON lines, the logs' frames) and the *hijack*:
  an attach or exec that turns the HTTP connection into a raw two-way stream;
* ``system.py`` -- ``/_ping``, ``/version``, ``/info``, ``/system/df``, ``/auth``;
* ``containers.py`` -- ``/containers/...``: create, start, stop, attach, wait, logs, inspect...;
* ``sessions.py`` -- what the daemon keeps between requests: for each container it started, its end
  of the shim's first attach socket, so clients attached before the start see every byte and a
  ``wait`` learns the exit code of a container that ``AutoRemove`` already removed;
* ``execs.py`` -- ``/containers/{id}/exec`` and ``/exec/...``;
* ``daemon.py`` -- the sockets, the log, and a stop that leaves the containers running;
* ``images.py`` -- ``/images/...``: list, inspect, history, tag, remove, pull, push, save, load.

Nothing is kept in memory that the store does not also hold: a restarted daemon finds every
container again (they run under their shims, not under the daemon), and the ``minidock`` command on
the same store sees what the daemon made at once, and the other way round.
"""
