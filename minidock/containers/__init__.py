"""Containers: the record and lifecycle (created, running, exited, removed), the union-FS view, diff and commit.

The engine's side of a container: it makes a bundle (a root file system over
an image's layers and a spec) and hands it to the runtime, which runs it.

May use: ``images``, ``runtime`` and the flat modules.
"""
