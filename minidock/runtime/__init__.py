"""The runtime: the kernel side only, as runc and containerd's shim are to Docker.

Syscalls, namespaces and user namespaces, the overlay mount and the root file
system, cgroups, the network (veth, bridge, addresses via pyroute2), the shim
that supervises a container's first process, ``nsenter`` and the run modes.
It knows nothing of images or containers.

May use: only the flat modules (``errors``, ``display``, ``progress``).
"""
