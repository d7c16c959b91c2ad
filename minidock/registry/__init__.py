"""Registries: the OCI distribution API, served (``server.py``) and spoken to.

A registry holds repositories (``library/busybox``); each repository holds
manifests, some of them named by tags, and may serve the blobs (configs,
layers) its manifests reference.  The wire protocol is the OCI distribution
spec (``/v2/...``), which Docker's registry (distribution) defined.

May use: ``images`` and the flat modules.
"""
