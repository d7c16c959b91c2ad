"""``pull``, ``push``, ``login``, ``logout``: the registry commands, as docker's."""

from __future__ import annotations

import sys

from ..api.client import Client
from ..errors import UsageError
from ..api.images import parse
from .base import command, flag, out


def _say(quiet: bool):
    return (lambda line: None) if quiet else out


@command("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
         flag("-a", "--all-tags", action="store_true", help="Download all tagged images in the repository"),
         flag("-q", "--quiet", action="store_true", help="Suppress verbose output"),
         flag("--platform", help="Set platform if server is multi-platform capable (os/arch[/variant])"),
         counts=(1, 1))
def pull_cmd(client: Client, opts) -> None:
    name = opts.args[0]
    ref = parse(name)
    if not opts.all_tags and ":" not in name.rsplit("/", 1)[-1] and "@" not in name and not opts.quiet:
        out("Using default tag: latest")
    if opts.all_tags:  # as docker: every tag's progress, then the repository's name
        client.images.pull(ref.name, all_tags=True, platform=opts.platform, say=_say(opts.quiet))
        out(ref.name)
        return
    client.images.pull(name, platform=opts.platform, say=_say(opts.quiet))
    out(str(ref))


@command("push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry",
         flag("-a", "--all-tags", action="store_true", help="Push all tags of an image to the repository"),
         flag("-q", "--quiet", action="store_true", help="Suppress verbose output"),
         counts=(1, 1))
def push_cmd(client: Client, opts) -> None:
    name = opts.args[0]
    if opts.all_tags:
        name = parse(name).name
    pushed = client.images.push(name, all_tags=opts.all_tags, say=_say(opts.quiet))
    if opts.quiet:
        out(name)
    return None if pushed else 1


@command("login", "[OPTIONS] [SERVER]", "Log in to a registry",
         flag("-u", "--username", help="Username"),
         flag("-p", "--password", help="Password"),
         flag("--password-stdin", action="store_true", help="Take the password from stdin"),
         counts=(0, 1))
def login_cmd(client: Client, opts) -> None:
    from ..api import registry
    server = opts.args[0] if opts.args else "docker.io"
    registry.endpoint(server)  # a malformed server is refused before any prompt
    password = opts.password
    if opts.password_stdin:
        if opts.password is not None:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        if not opts.username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.readline().rstrip("\n")
    elif password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    user = opts.username or input("Username: ")
    if password is None:
        import getpass
        password = getpass.getpass("Password: ")
    registry.login(server, user, password)
    out("Login Succeeded")


@command("logout", "[SERVER]", "Log out from a registry", counts=(0, 1))
def logout_cmd(client: Client, opts) -> None:
    from ..api import registry
    server = opts.args[0] if opts.args else "docker.io"
    if registry.logout(server):
        out(f"Removing login credentials for {server}")
    else:
        out(f"Not logged in to {server}")
