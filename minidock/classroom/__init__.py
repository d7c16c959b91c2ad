"""The classroom's root side: learner accounts, and each learner's sandbox (network namespace + cgroup).

A hub (JupyterHub's spawner, ``deploy/jupyterhub/``) runs as root: it makes a
local user per learner (``learners``), and starts each learner's server in a
sandbox of their own (``sandbox``), where the learner runs minidock in
rootless mode.  Nothing here runs a container: it is the fence around them.

May use: ``runtime`` (cgroups, rtnetlink, namespaces) and the flat modules.
"""
