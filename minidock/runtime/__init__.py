"""The kernel side: syscalls, the container's root file system, cgroups, namespaces."""
