# minidock twins of the book's ~/.bashrc_docker helpers.
# Use:  echo "[ -f $PWD/docs/minidock.bashrc ] && . $PWD/docs/minidock.bashrc" >> ~/.bashrc
#   minidock-pid NAME          the host PID of the container's first process
#   minidock-enter NAME [CMD]  a shell (or CMD) inside all of its namespaces, via nsenter

minidock-pid() {
    minidock inspect --format '{{.State.Pid}}' "$@"
}

minidock-enter() {
    if [ -z "$1" ]; then
        echo "usage: minidock-enter CONTAINER [COMMAND [ARG...]]" >&2
        return 1
    fi
    local pid
    pid=$(minidock-pid "$1") || return 1
    shift
    if [ "$pid" = 0 ]; then
        echo "minidock-enter: the container is not running" >&2
        return 1
    fi
    # the seed's recipe: every namespace of the container's PID 1
    if [ $# -eq 0 ]; then
        nsenter --target "$pid" --mount --uts --ipc --net --pid -- /bin/sh -l
    else
        nsenter --target "$pid" --mount --uts --ipc --net --pid -- "$@"
    fi
}
