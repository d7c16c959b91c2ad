"""The API: the Python API shaped like the Docker SDK for Python (``from_env()``, ``client.images``,
``client.containers``, their models).

Everything above it (the command line, the course) talks to the engine only through here.

May use: every package of the engine (``build``, ``containers``, ``registry``, ``images``, ``runtime``)
and the flat modules.
"""
