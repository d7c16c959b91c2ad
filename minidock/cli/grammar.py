"""docker's command-line grammar (cobra + pflag) on top of argparse.

A docker book's commands must work letter for letter with ``minidock``, but
docker parses its command line with Go's pflag, and pflag disagrees with
Python's argparse on things a reader types without thinking:

* ``-t="ouruser/sinatra:v2"``: the shell removes the quotes, pflag reads the
  value after ``=`` (``-t=V``, ``-tV`` and ``-t V`` all mean V).
* ``-dit``, ``-dp 8080:80``, ``-dp=8080:80``: booleans group; the first flag
  of a group that takes a value takes the rest of the group, or the next word.
* A flag that takes a value takes the next word whatever it looks like
  (``-e -x`` sets ``-x``); argparse refuses a value that starts with ``-``.
* Flags and positionals mix (``images busybox -q``), except in commands that
  run a command (``run busybox ls -la``): pflag's ``SetInterspersed(false)``
  stops at the first positional, the rest is the container's argv.
* No abbreviations (``--verb`` is not ``--verbose``), and cobra's errors are
  one line (``unknown flag: --foo``) with exit code 125, not argparse's usage
  dump with exit code 2.

So :func:`normalize_argv` reads argv the pflag way and hands argparse only
unambiguous ``--flag=value`` tokens; argparse still stores values, converts
types and collects repeated flags (``action="append"`` for ``-e``, ``-c``).

Errors are :class:`~minidock.errors.UsageError` whose ``str()`` is docker's
first line; ``err.hint`` holds what docker prints after it
(``See 'minidock tag --help'.``, plus the usage for a wrong argument count).
``-h``/``--help`` raises :class:`HelpShown`, whose ``text`` goes to stdout.
"""

import argparse
import sys

from ..errors import UsageError

# Go's strconv.ParseBool, which pflag uses for ``--rm=false``.
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class HelpShown(Exception):
    """``-h``/``--help`` was given: print ``text`` on stdout and exit 0."""

    exit_code = 0

    def __init__(self, text):
        super().__init__(text)
        self.text = text


def normalize_argv(argv, value_flags, known_flags=None, *, interspersed=True):
    """Read ``argv`` the pflag way; return ``[flag tokens..., "--", positionals...]``.

    ``value_flags`` are the option strings that take a value (``-t``,
    ``--tag``); each comes out joined to its value (``-t=V``, ``--tag=V``).
    With ``known_flags``, any other flag raises docker's "unknown flag" error.
    ``interspersed=False`` stops at the first positional (``run IMAGE CMD...``).
    """
    flags, positionals, rest = [], [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--":                       # pflag: everything after is positional
            positionals += rest
            break
        if arg == "-" or not arg.startswith("-"):
            positionals.append(arg)
            if not interspersed:
                positionals += rest
                break
        elif arg.startswith("--"):
            flags.append(_long_flag(arg, rest, value_flags, known_flags))
        else:
            flags += _short_flags(arg, rest, value_flags, known_flags)
    return flags + ["--"] + positionals


def _long_flag(arg, rest, value_flags, known_flags):
    """``--name=V`` as it is; ``--name V`` joined; pflag's errors otherwise."""
    name, eq, _ = arg.partition("=")
    if known_flags is not None and name not in known_flags:
        raise UsageError(f"unknown flag: {name}")
    if name in value_flags and not eq:
        if not rest:
            raise UsageError(f"flag needs an argument: {arg}")
        return f"{name}={rest.pop(0)}"
    return arg


def _short_flags(arg, rest, value_flags, known_flags):
    """``-dit`` → ``-d -i -t``; a value flag takes the rest of the group
    (``-p8080:80``, ``-p=8080:80``) or, at the group's end, the next word."""
    tokens = []
    for i, char in enumerate(arg[1:], start=1):
        flag, tail = "-" + char, arg[i + 1:]
        if known_flags is not None and flag not in known_flags:
            # pflag names the group from the offending letter on: 'z' in -z
            raise UsageError(f"unknown shorthand flag: '{char}' in -{arg[i:]}")
        if flag in value_flags:
            if tail:
                return tokens + [f"{flag}={tail.removeprefix('=')}"]
            if not rest:
                raise UsageError(f"flag needs an argument: '{char}' in -{arg[i:]}")
            return tokens + [f"{flag}={rest.pop(0)}"]
        if tail.startswith("="):              # a boolean given a value: -d=false
            return tokens + [flag + tail]
        tokens.append(flag)
    return tokens


class CommandParser(argparse.ArgumentParser):
    """One docker command: ``CommandParser("minidock tag", "SOURCE TARGET",
    "Create a tag ...", min_args=2, max_args=2)``.

    Declare flags with ``add_argument`` as usual; every flag should have a
    long name, as in pflag. ``parse_args(argv)`` returns a Namespace whose
    ``args`` is the list of positionals, already checked against
    ``min_args``/``max_args`` with cobra's messages.
    """

    def __init__(self, path, usage="", short="", *, min_args=0, max_args=None,
                 interspersed=True):
        # "resolve": a command may take -h for itself (run -h HOSTNAME), leaving --help
        super().__init__(prog=path, add_help=False, allow_abbrev=False,
                         exit_on_error=False, conflict_handler="resolve")
        self.path, self.short = path, short
        self.use_line = f"{path} {usage}".strip()
        self.min_args, self.max_args, self.interspersed = min_args, max_args, interspersed
        self.add_argument("-h", "--help", action="store_true", help=argparse.SUPPRESS)

    def parse_args(self, args=None, namespace=None):
        """Parse ``args`` (default ``sys.argv[1:]``) like docker would."""
        argv = sys.argv[1:] if args is None else list(args)
        try:
            tokens = normalize_argv(argv, self._value_flags(), self._option_string_actions,
                                    interspersed=self.interspersed)
            cut = tokens.index("--")
            flags = [t for t in map(self._checked, tokens[:cut]) if t]
            parsed = super().parse_args(flags, namespace)
        except argparse.ArgumentError as err:
            raise self._hinted(UsageError(str(err))) from None
        except UsageError as err:
            raise self._hinted(err) from None
        if parsed.help:
            raise HelpShown(self.format_help())
        parsed.args = tokens[cut + 1:]
        self._check_count(parsed.args)
        return parsed

    def error(self, message):
        """argparse calls this on any error it finds itself: never exit."""
        raise self._hinted(UsageError(message))

    def format_help(self):
        """docker's per-command help: usage line, description, options."""
        lines = ["", f"Usage:  {self.use_line}", ""]
        if self.short:
            lines += [self.short, ""]
        shown = sorted((a for a in self._actions if a.help is not argparse.SUPPRESS),
                       key=lambda a: _flag_names(a).split("--")[-1])   # pflag sorts by name
        if shown:
            lines += ["Options:", *_flag_usages(shown)]
        return "\n".join(lines) + "\n"

    def _value_flags(self):
        return {s for a in self._actions if a.nargs != 0 for s in a.option_strings}

    def _checked(self, token):
        """Check a ``flag=value`` token the way pflag would, before argparse.

        A boolean's value is parsed like Go's ParseBool (``--rm=false`` drops
        the flag); a typed flag's value is converted once to report pflag's
        ``invalid argument "x" for "-n, --tail" flag: ...``.
        """
        name, eq, value = token.partition("=")
        action = self._option_string_actions[name]
        if not eq or (action.nargs != 0 and action.type is None):
            return token
        try:
            if action.nargs != 0:
                action.type(value)
                return token
            if value in _TRUE or value in _FALSE:
                return name if value in _TRUE else None
            raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')
        except (ValueError, TypeError) as err:
            why = str(err)
            if action.type in (int, float):         # Go's strconv words it so
                parse = "ParseInt" if action.type is int else "ParseFloat"
                why = f'strconv.{parse}: parsing "{value}": invalid syntax'
            raise UsageError(f'invalid argument "{value}" for "{_flag_names(action)}" '
                             f"flag: {why}") from None

    def _check_count(self, args):
        """cobra's positional-argument checks (docker cli/required.go)."""
        low, high, n = self.min_args, self.max_args, len(args)
        if n >= low and (high is None or n <= high):
            return
        if high == 0:
            message = f'"{self.path}" accepts no arguments.'
        elif low == high:
            message = f'"{self.path}" requires exactly {low} {_plural(low)}.'
        elif high is None:
            message = f'"{self.path}" requires at least {low} {_plural(low)}.'
        elif low == 0:
            message = f'"{self.path}" requires at most {high} {_plural(high)}.'
        else:
            message = (f'"{self.path}" requires at least {low} and at most {high} '
                       f"{_plural(high)}.")
        raise self._hinted(UsageError(message), with_usage=True)

    def _hinted(self, err, with_usage=False):
        """Attach what docker prints after the error's first line."""
        err.hint = f"See '{self.path} --help'."
        if with_usage:
            err.hint += f"\n\nUsage:  {self.use_line}\n\n{self.short}".rstrip()
        return err


def _plural(n):
    return "argument" if n == 1 else "arguments"


def _flag_names(action):
    """pflag's name for a flag in messages: ``-n, --tail`` or ``--format``."""
    return ", ".join(sorted(action.option_strings, key=len))


def _flag_usages(actions):
    """pflag's FlagUsages: ``  -a, --all`` or ``      --format string``, then
    the help text, aligned three spaces after the longest flag."""
    heads = [_flag_head(a) for a in actions]
    width = max(map(len, heads))
    return [f"{head.ljust(width)}   {action.help or ''}{_default_note(action)}".rstrip()
            for head, action in zip(heads, actions)]


def _flag_head(action):
    shorts = [s for s in action.option_strings if not s.startswith("--")]
    longs = [s for s in action.option_strings if s.startswith("--")]
    if shorts and longs:
        head = f"  {shorts[0]}, {longs[0]}"
    else:
        head = f"      {(longs or shorts)[0]}"
    if action.nargs != 0:
        head += " " + _value_name(action)
    return head


def _value_name(action):
    """pflag shows a flag's value type: ``string``, ``int``, ``list``."""
    if action.metavar:
        return action.metavar
    if isinstance(action, argparse._AppendAction):   # docker's ListOpts say "list"
        return "list"
    return {int: "int", float: "float"}.get(action.type, "string")


def _default_note(action):
    """pflag appends a non-zero default: ``(default "all")``, ``(default 10)``."""
    default = action.default
    if action.nargs == 0 or default in (None, "", 0, [], False):
        return ""
    return f' (default "{default}")' if isinstance(default, str) else f" (default {default})"
