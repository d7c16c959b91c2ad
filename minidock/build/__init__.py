"""Building images: the Dockerfile parser, the build context (``.dockerignore``), Docker's classic builder and its cache.

May use: ``containers`` (RUN runs in one), ``registry`` (FROM may pull), ``images`` and the flat modules.
"""
