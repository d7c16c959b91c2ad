"""The Dockerfile: text -> stages of instructions, and Docker's word expansion.

Parsing follows Docker's two passes (moby/buildkit ``frontend/dockerfile``):
``parser`` turns physical lines into logical lines (directives, comments,
continuations) and splits off each instruction's flags; ``instructions``
checks each one's arguments.  Nothing is expanded here: ``$VAR`` is replaced
at build time, step by step, because ENV and ARG change the environment as
the build goes.  What Docker expands, and how (its ``instructions`` package):

* ``expand`` (one word, blanks kept): each ADD/COPY word and flag value, the
  FROM image (with the meta ARGs only), USER, WORKDIR, STOPSIGNAL as a whole;
* ``expand_words`` (split after expansion): EXPOSE, VOLUME in shell form;
* ``key_values``: ENV, LABEL and ARG arguments;
* nothing: RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK (the shell does it at run time).

Dockerfile reference: https://docs.docker.com/reference/dockerfile/
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import MinidockError

INSTRUCTIONS = ("FROM", "MAINTAINER", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY",
                "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
                "HEALTHCHECK", "SHELL")
FLAGS = {
    "FROM": ("platform",),
    "COPY": ("chown", "chmod", "from", "link"),
    "ADD": ("chown", "chmod", "checksum", "link"),
    "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries"),
}
BOOL_FLAGS = ("link",)                  # --link alone means true; others need =value
BUILDKIT_RUN_FLAGS = ("mount", "network", "security")
EXEC_FORM = ("RUN", "CMD", "ENTRYPOINT", "SHELL", "ADD", "COPY", "VOLUME", "HEALTHCHECK")
ONE_ARGUMENT = ("MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL")
HEREDOC_COMMANDS = ("RUN", "COPY", "ADD")

_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")          # buildkit's reWhitespace: no \n in a line
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*$")
_HEREDOC = re.compile(r"(?:^|\s)\d*<<-?[\"']?[A-Za-z0-9_]")


class DockerfileError(MinidockError):
    """A Dockerfile that cannot be built; names the file and the line, as Docker does."""

    exit_code = 1

    def __init__(self, filename: str, line: int, message: str):
        super().__init__(f"{filename}:{line}: {message}")
        self.filename, self.line, self.message = filename, line, message


@dataclass(frozen=True)
class Instruction:
    """One instruction: exec form args are the JSON strings, else one unexpanded string."""

    cmd: str
    args: tuple[str, ...]
    flags: dict[str, str]
    json: bool
    line: int
    original: str


@dataclass(frozen=True)
class Stage:
    """``FROM base [AS name]`` and the instructions up to the next FROM (FROM first)."""

    index: int
    name: str | None
    base: str
    platform: str | None
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class Dockerfile:
    filename: str
    directives: dict[str, str]
    escape: str
    meta_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a whole Dockerfile; the first problem found raises ``DockerfileError``."""
    lines = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    directives = _directives(lines, filename)
    escape = directives.get("escape", "\\")
    meta_args, stages, names = [], [], {}
    for number, line in _logical_lines(lines, escape):
        try:
            instruction = _instruction(line, number, escape)
        except ValueError as e:
            raise DockerfileError(filename, number, str(e)) from None
        if instruction.cmd == "FROM":
            stage = _stage(instruction, len(stages), names, filename)
            stages.append([stage, [instruction]])
        elif stages:
            stages[-1][1].append(instruction)
        elif instruction.cmd == "ARG":
            meta_args.append(instruction)
        else:
            raise DockerfileError(filename, number, f"{instruction.cmd} before the first FROM: no build "
                                  "stage in current context (only ARG may come before FROM)")
    if not stages:
        what = "no FROM instruction" if meta_args else "no instructions"
        raise DockerfileError(filename, max(1, len(lines) - (lines[-1] == "")), f"the Dockerfile has {what}")
    return Dockerfile(filename, directives, escape, tuple(meta_args),
                      tuple(Stage(s.index, s.name, s.base, s.platform, tuple(i)) for s, i in stages))


def _directives(lines: list[str], filename: str) -> dict[str, str]:
    """``# escape=`` and ``# syntax=``: only before any other line (a blank line or comment ends them)."""
    found: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        match = _DIRECTIVE.match(line.lstrip())
        key = match[1].lower() if match else None
        if key not in ("escape", "syntax"):
            break
        if key in found:
            raise DockerfileError(filename, number, f"only one {key} parser directive can be used")
        if key == "escape" and match[2] not in ("\\", "`"):
            raise DockerfileError(filename, number, f"invalid escape token '{match[2]}' does not match ` or \\")
        found[key] = match[2]
    return found


def _logical_lines(lines: list[str], escape: str):
    """Yield ``(first line number, joined line)``.

    Docker's rules: a line ending in the escape character (then only blanks)
    continues on the next; the pieces are joined as they are (a continued
    line keeps its leading blanks); whole comment lines and blank lines
    inside a continuation are dropped; ``#`` starts a comment only at the
    start of a line, never in the middle of one.
    """
    continued = re.compile(re.escape(escape) + r"[ \t]*$")
    number = 0
    while number < len(lines):
        line = lines[number].lstrip()
        number += 1
        start = number
        if line.startswith("#"):
            continue
        line, more = _cut(line, continued)
        if not more and not line:
            continue
        while more and number < len(lines):
            piece = lines[number]
            number += 1
            if piece.lstrip().startswith("#") or not piece.strip():
                continue
            piece, more = _cut(piece, continued)
            line += piece
        yield start, line.strip()


def _cut(line: str, continued: re.Pattern) -> tuple[str, bool]:
    """The line without its continuation mark, and whether it had one."""
    match = continued.search(line)
    return (line[:match.start()], True) if match else (line, False)


def _instruction(line: str, number: int, escape: str) -> Instruction:
    """One logical line -> an Instruction, checked as buildkit's ``instructions`` package does."""
    word, rest = (_WHITESPACE.split(line, 1) + [""])[:2]
    cmd = word.upper()
    if cmd not in INSTRUCTIONS:
        close = difflib.get_close_matches(cmd, INSTRUCTIONS, n=1, cutoff=0.6)
        raise ValueError(f"unknown instruction: {word}" + (f" (did you mean {close[0]}?)" if close else ""))
    flag_words, rest = _split_flags(rest)
    flags = _flags(cmd, flag_words)
    args, is_json = _arguments(cmd, rest)
    _check(cmd, rest, args, is_json, flags, escape)
    return Instruction(cmd, args, flags, is_json, number, line)


def _split_flags(rest: str) -> tuple[list[str], str]:
    """The leading ``--name[=value]`` words (quotes removed) and what follows them; ``--`` ends them."""
    words = []
    while rest.startswith("--"):
        word, rest = _flag_word(rest)
        rest = rest.lstrip()
        if word == "--":
            break
        words.append(word)
    return words, rest


def _flag_word(text: str) -> tuple[str, str]:
    """One flag word: quotes group and vanish, a backslash takes the next character literally."""
    word, quote, i = "", None, 0
    while i < len(text) and (quote or not text[i].isspace()):
        ch = text[i]
        if ch == quote:
            quote = None
        elif quote is None and ch in "'\"":
            quote = ch
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            word += text[i]
        elif ch != "\\":
            word += ch
        i += 1
    return word, text[i:]


def _flags(cmd: str, words: list[str]) -> dict[str, str]:
    """Check flags against what the instruction accepts (buildkit's ``BFlags``)."""
    allowed, flags = FLAGS.get(cmd, ()), {}
    for word in words:
        name, eq, value = word[2:].partition("=")
        if cmd == "RUN" and name in BUILDKIT_RUN_FLAGS:
            raise ValueError(f"RUN --{name} is not supported by minidock (a BuildKit extension)")
        if name not in allowed:
            takes = f"{cmd} accepts " + ", ".join(f"--{f}" for f in allowed) if allowed else f"{cmd} takes no flags"
            raise ValueError(f"unknown flag: --{name} ({takes})")
        if name in flags:
            raise ValueError(f"duplicate flag specified: --{name}")
        if name in BOOL_FLAGS and (value.lower() not in ("", "true", "false") or (eq and not value)):
            raise ValueError(f"expecting a boolean value for flag --{name}, not: {value!r}")
        if name not in BOOL_FLAGS and not eq:
            raise ValueError(f"missing a value on flag: --{name}")
        flags[name] = value
    return flags


def _arguments(cmd: str, rest: str) -> tuple[tuple[str, ...], bool]:
    """Exec form (a JSON array of strings) where the instruction has one, else the rest as one string."""
    if cmd == "HEALTHCHECK":                    # HEALTHCHECK [flags] CMD|NONE [command]
        kind, tail = (_WHITESPACE.split(rest, 1) + [""])[:2]
        args, is_json = _arguments("CMD", tail)
        return ((kind.upper(), *args) if kind else ()), is_json
    array = _json_array(rest) if cmd in EXEC_FORM else None
    if array is not None:
        return tuple(array), True
    return ((rest,) if rest else ()), False


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


_JSON = json.JSONDecoder(parse_constant=_not_json)


def _json_array(text: str) -> list[str] | None:
    """A JSON array of strings, or None for shell form.

    As Docker: whatever does not decode as JSON is shell form (``RUN [ -f x ]``),
    only the first JSON value is read (text after the ``]`` is ignored), and an
    array holding anything but strings is an error.
    """
    if not text.startswith("["):
        return None
    try:
        value, _ = _JSON.raw_decode(text)
    except ValueError:
        return None
    if not all(isinstance(item, str) for item in value):
        raise ValueError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _check(cmd: str, rest: str, args: tuple[str, ...], is_json: bool, flags: dict[str, str], escape: str) -> None:
    """The argument rules of Docker's ``instructions`` package, with its messages."""
    if cmd in HEREDOC_COMMANDS and not is_json and _HEREDOC.search(rest):
        raise ValueError(f"{cmd} with a heredoc (<<) is not supported by minidock: "
                         "put the text in a file in the build context and COPY it")
    if not args and not (is_json and cmd in ("CMD", "ENTRYPOINT")):
        needs = {"ADD": "two arguments", "COPY": "two arguments"}.get(cmd, "at least one argument")
        raise ValueError(f"{cmd} requires " + ("exactly one argument" if cmd in ONE_ARGUMENT else needs))
    if cmd in ("ADD", "COPY") and len(args if is_json else _WHITESPACE.split(rest)) < 2:
        raise ValueError(f"{cmd} requires at least two arguments, but only one was provided. "
                         "Destination could not be determined")
    if cmd in ("ENV", "LABEL", "ARG"):
        _raw_pairs(rest, escape, cmd != "ARG", cmd)
    elif cmd == "FROM":
        words = _WHITESPACE.split(rest)
        if len(words) == 3 and words[1].lower() == "as":
            if not _STAGE_NAME.match(words[2].lower()):
                raise ValueError(f'invalid name for build stage: "{words[2]}", '
                                 "name can't start with a number or contain symbols")
        elif len(words) != 1:
            raise ValueError("FROM requires either one or three arguments: FROM [--platform=P] IMAGE [AS NAME]")
    elif cmd == "SHELL" and not is_json:
        raise ValueError('SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]')
    elif cmd == "VOLUME" and any(not v.strip() for v in args):
        raise ValueError("VOLUME specified can not be an empty string")
    elif cmd == "HEALTHCHECK":
        _check_healthcheck(args, flags)
    elif cmd == "ONBUILD":
        trigger = _WHITESPACE.split(rest, 1)[0].upper()
        if trigger == "ONBUILD":
            raise ValueError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise ValueError(f"{trigger} isn't allowed as an ONBUILD trigger")


def _check_healthcheck(args: tuple[str, ...], flags: dict[str, str]) -> None:
    """``HEALTHCHECK NONE`` alone, or ``HEALTHCHECK [flags] CMD command``."""
    if args[0] == "NONE":
        if len(args) > 1:
            raise ValueError("HEALTHCHECK NONE takes no arguments")
        if flags:
            raise ValueError(f"unknown flag: --{next(iter(flags))} (HEALTHCHECK NONE takes no flags)")
    elif args[0] != "CMD":
        raise ValueError(f'Unknown type "{args[0]}" in HEALTHCHECK (try CMD)')
    elif len(args) == 1:
        raise ValueError("Missing command after HEALTHCHECK CMD")


def _stage(instruction: Instruction, index: int, names: dict[str, int], filename: str) -> Stage:
    """A new stage from its FROM; stage names are case-insensitive and unique."""
    words = _WHITESPACE.split(instruction.args[0])
    name = words[2].lower() if len(words) == 3 else None
    if name in names:
        raise DockerfileError(filename, instruction.line,
                              f'duplicate stage name "{name}" (first used on line {names[name]})')
    if name:
        names[name] = instruction.line
    return Stage(index, name, words[0], instruction.flags.get("platform"), ())


# --- words: quotes, escapes and $VARIABLES, as buildkit's shell.Lex ----------------------------


def _raw_words(text: str, escape: str) -> list[str]:
    """Split at unquoted blanks, keeping quotes and escapes in the words (buildkit's ``parseWords``)."""
    words, word, quote, quoted, i = [], "", None, False, 0
    while i < len(text):
        ch = text[i]
        if quote is None and ch.isspace():
            if word or quoted:
                words.append(word)
            word, quoted = "", False
        else:
            if ch == escape and quote != "'":
                if i + 1 == len(text):
                    break
                i += 1
                word, ch = word + ch, text[i]
            elif ch == quote:
                quote = None
            elif quote is None and ch in "'\"":
                quote, quoted = ch, True
            word += ch
        i += 1
    return words + [word] if word or quoted else words


def _raw_pairs(text: str, escape: str, legacy: bool, instruction: str) -> list[tuple[str, str | None]]:
    """``k=v k2="v 2"`` pairs, unexpanded; ``legacy``: ``KEY value with blanks`` when the first word has no ``=``.

    Without ``legacy`` (ARG) a bare ``name`` is ``(name, None)``.
    """
    words = _raw_words(text, escape)
    if not words:
        raise ValueError(f"{instruction} requires at least one argument")
    if legacy and "=" not in words[0]:
        parts = _WHITESPACE.split(text.strip(), 1)
        if len(parts) < 2:
            raise ValueError(f"{instruction} must have two arguments: {instruction} KEY=VALUE ... or {instruction} KEY VALUE")
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if legacy and not eq:
            raise ValueError(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
        if not key:
            raise ValueError(f"{instruction} names can not be blank")
        pairs.append((key, value if eq else None))
    return pairs


def key_values(text: str, env: Mapping[str, str], escape: str = "\\", *, legacy_env: bool = True,
               instruction: str | None = None) -> list[tuple[str, str | None]]:
    """ENV/LABEL (``legacy_env``) or ARG (not) arguments as pairs, keys and values expanded.

    Every pair is expanded against ``env`` as given: Docker expands all of an
    ENV's pairs against the environment from before the instruction, so
    ``ENV A=1 B=$A`` sets B to the *old* A.
    """
    instruction = instruction or ("ENV" if legacy_env else "ARG")
    return [(expand(key, env, escape), None if value is None else expand(value, env, escape))
            for key, value in _raw_pairs(text, escape, legacy_env, instruction)]


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with quotes removed and variables replaced; blanks inside are kept (``ProcessWord``)."""
    return _Lexer(word, env, escape).process()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """The same over a line, split at unquoted blanks *after* expansion (``ProcessWords``)."""
    return _Lexer(text, env, escape).process()[1]


class _Lexer:
    """Docker's shell-like word processing: not a shell (no globs, no commands, no ``$(...)``).

    Outside quotes the escape character takes the next character literally;
    ``'...'`` is literal; in ``"..."`` only ``$`` and escaped ``"``, ``$`` or
    the escape character are special.  An unset variable is empty, and the
    value of an unquoted ``$VAR`` is split into words, as the shell does.
    """

    def __init__(self, text: str, env: Mapping[str, str], escape: str):
        self.text, self.env, self.escape, self.pos = text, env, escape, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def fail(self, message: str):
        raise ValueError(f'failed to process "{self.text}": {message}')

    def process(self, stop: str = "") -> tuple[str, list[str]]:
        """Up to ``stop`` (or the end): the expanded text, and its words."""
        out, words = [], _Words()
        while self.peek():
            ch = self.next()
            if ch == stop:
                return "".join(out), words.done()
            if ch == "'":
                piece, raw = self.single_quoted(), True
            elif ch == '"':
                piece, raw = self.double_quoted(), True
            elif ch == "$":
                piece, raw = self.dollar(), False
            elif ch == self.escape:
                if not self.peek():
                    break                       # an escape at the very end vanishes
                piece, raw = self.next(), True
            else:
                piece, raw = ch, False
            out.append(piece)
            words.add(piece, raw)
        if stop:
            self.fail(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.done()

    def single_quoted(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            self.fail("unexpected end of statement while looking for matching single-quote")
        piece, self.pos = self.text[self.pos:end], end + 1
        return piece

    def double_quoted(self) -> str:
        out = []
        while (ch := self.next()) != '"':
            if not ch:
                self.fail("unexpected end of statement while looking for matching double-quote")
            if ch == "$":
                out.append(self.dollar())
                continue
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                ch = self.next()                # other escapes stay as written
            elif ch == self.escape and not self.peek():
                continue
            out.append(ch)
        return "".join(out)

    def name(self) -> str:
        """A variable name: letters, digits and _, or a run of digits, or one special parameter."""
        start = self.pos
        if self.peek().isdigit():
            while self.peek().isdigit():
                self.pos += 1
        elif self.peek() and self.peek() in "@*#?-$!":
            self.pos += 1
        else:
            while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
                self.pos += 1
        return self.text[start:self.pos]

    def dollar(self) -> str:
        """``$NAME``, ``${NAME}``, ``${NAME[:]-word}``, ``${NAME[:]+word}``, ``${NAME[:]?message}``."""
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.next()
        if not self.peek():
            self.fail("syntax error: missing '}'")
        if self.peek() in "{}:":
            self.fail("syntax error: bad substitution")
        name, op = self.name(), self.next()
        if op == "}":
            return self.env.get(name, "")
        if op == ":":
            op += self.next()
        if not op:
            self.fail("syntax error: missing '}'")
        if op not in ("-", "+", "?", ":-", ":+", ":?"):
            self.fail(f"unsupported modifier ({op}) in substitution: minidock knows ${{VAR}}, "
                      "${VAR-default}, ${VAR:-default}, ${VAR+alt}, ${VAR:+alt}, ${VAR?err}, ${VAR:?err}")
        word = self.process("}")[0]
        value = self.env.get(name)
        missing = value is None or (op[0] == ":" and value == "")
        if op[-1] == "-":
            return word if missing else value
        if op[-1] == "+":
            return "" if missing else word
        if missing:
            self.fail(f"{name}: {word or ('is not allowed to be empty' if value == '' else 'is not allowed to be unset')}")
        return value


class _Words:
    """Words of an expanded line: quoted and escaped text never splits, variable values do."""

    def __init__(self):
        self.words, self.word = [], ""

    def add(self, text: str, raw: bool) -> None:
        if raw:
            self.word += text
            return
        for ch in text:
            if not ch.isspace():
                self.word += ch
            elif self.word:
                self.words.append(self.word)
                self.word = ""

    def done(self) -> list[str]:
        return self.words + [self.word] if self.word else self.words
