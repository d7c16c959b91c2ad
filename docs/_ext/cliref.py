"""A Sphinx directive that writes the CLI reference from minidock's own command registry.

``{cli-reference}`` expands to one section per command with its usage line
and its flags, taken from the same declarations the command line parses with,
so the reference cannot drift from the code.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive


class CliReference(Directive):
    def run(self):
        from minidock.cli import PROG, load_all
        from minidock.cli.base import parser_for
        out = []
        commands = load_all()  # the command line imports only the module of the command it runs
        for name in sorted(commands):
            cmd = commands[name]
            section = nodes.section(ids=[f"cli-{name.replace(' ', '-')}"])
            section += nodes.title(text=f"{PROG} {name}")
            section += nodes.paragraph(text=cmd.short)
            section += nodes.literal_block(text=parser_for(name).format_help().strip())
            out.append(section)
        return out


def setup(app):
    app.add_directive("cli-reference", CliReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
