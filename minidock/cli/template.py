"""A subset of Go's text/template, as docker's ``--format`` uses it.

``render("{{.State.Pid}}", data)`` walks ``data`` the way Go walks a struct:
``.Name`` is a key of a dict (case-sensitive, like a Go field) or an
attribute of an object; a method is called, as Go calls a niladic method.
Supported: ``{{.}}``, pipelines (``{{.Names | upper}}``), parentheses,
variables (``{{$x := .Id}}``, ``{{range $k, $v := .Labels}}``),
``if``/``else if``/``else``/``with``/``range``/``end``, ``{{- -}}`` trimming,
``{{/* comments */}}``, docker's functions (json, split, join, title, lower,
upper, pad, truncate) and Go's (index, len, print, printf, println, eq, ne,
lt, le, gt, ge, and, or, not).

Values print as Go's fmt prints them: ``[a b c]``, ``map[k:v]`` (sorted
keys), ``true``, ``<nil>`` for a null, ``<no value>`` for a missing key.
The ``table`` prefix and ``\\t`` escapes belong to docker's list commands,
not to Go: see :func:`is_table` and :func:`strip_table`.
"""

import ast
import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from ..errors import APIError


class _Missing:
    """Go's invalid reflect.Value: what a missing map key yields."""

    def __bool__(self):
        return False


_MISSING = _Missing()
_NO_ARG = object()          # nothing piped into a command


# --- printing values like Go's fmt %v -------------------------------------

def go_str(value):
    """``fmt.Sprint(value)`` as text/template prints an action's value."""
    if value is _MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(map(go_str, value)) + "]"
    return str(value)


def _go_float(f):
    """Go's %v for a float64: shortest digits; %e form when the exponent
    is < -4 or >= 6 (strconv 'g' with the shortest precision): 1e+06, 123456."""
    if f != f or f in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(f)]
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(digits) + exp - 1                    # exponent of the first digit
    if point < -4 or point >= 6:
        mantissa = text[0] + ("." + text[1:] if text[1:] else "")
        return f"{'-' * sign}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return f"{'-' * sign}{Decimal(text).scaleb(exp):f}"


def _go_type(value):
    """The Go type a JSON-decoded value would have, for error messages."""
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"),
                       (Mapping, "map[string]interface {}"), ((list, tuple), "[]interface {}")):
        if isinstance(value, kind):
            return name
    return "interface {}" if value is None else type(value).__name__


# --- the functions ----------------------------------------------------------

def _json(value):
    """docker's ``json``: compact, like json.Marshal, but with SetEscapeHTML(false),
    so ``<>&`` stay as they are; U+2028/U+2029 are still escaped, as Go does."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      default=lambda o: {k: v for k, v in vars(o).items() if not k.startswith("_")})
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _index(item, *keys):
    """Go's ``index``: a missing map key gives the zero value (nil)."""
    for key in keys:
        if item is None:
            raise ValueError("index of untyped nil")
        if isinstance(item, Mapping):
            item = item.get(key)
        elif isinstance(key, int) and 0 <= key < len(item):
            item = item[key]
        else:
            raise ValueError(f"index out of range: {key}")
    return item


def _len(item):
    if not isinstance(item, (str, list, tuple, Mapping)):
        raise ValueError(f"len of type {_go_type(item)}")
    return len(item)


def _sprint(*args):
    """fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(arg)
    return out


_VERB = re.compile(r"%([-0]*)(\d*)(?:\.(\d+))?(.)")


def _printf(form, *args):
    """fmt.Sprintf for the common verbs: %s %v %d %q %x %f and %%, with a width
    (``%-12s``, ``%05d``) and a precision (``%.2f``, ``%.12s``)."""
    args = list(args)

    def one(match):
        flags, width, precision, verb = match.groups()
        if verb == "%":
            return "%"
        if not args:
            return f"%!{verb}(MISSING)"
        text, width = _format_verb(verb, args.pop(0), precision), int(width or 0)
        if "-" in flags:
            return text.ljust(width)
        if "0" in flags and verb in "dfx" and text.startswith("-"):
            return "-" + text[1:].rjust(width - 1, "0")
        return text.rjust(width, "0" if "0" in flags and verb in "dfx" else " ")

    return _VERB.sub(one, form)


def _format_verb(verb, value, precision):
    """One operand; Go's ``%!d(string=abc)`` when verb and value disagree."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if verb == "v" or (verb == "s" and not number):
        text = go_str(value)
        return text[:int(precision)] if precision and verb == "s" else text
    if verb == "d" and number and isinstance(value, int):
        return str(value)
    if verb == "f" and number:
        return f"{value:.{int(precision or 6)}f}"
    if verb == "q" and isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if verb == "x" and (isinstance(value, str) or (number and isinstance(value, int))):
        return value.encode().hex() if isinstance(value, str) else f"{value:x}"
    return f"%!{verb}({_go_type(value)}={go_str(value)})"


FUNCTIONS = {
    # docker's templates.basicFunctions
    "json": _json,
    "split": lambda text, sep: text.split(sep),
    "join": lambda items, sep: sep.join(map(go_str, items)),
    "title": lambda text: re.sub(r"\b\w", lambda m: m.group().upper(), text),
    "lower": lambda text: text.lower(),
    "upper": lambda text: text.upper(),
    "pad": lambda text, before, after: text and " " * before + text + " " * after,
    "truncate": lambda text, length: text[:length],
    # Go's text/template builtins
    "index": _index,
    "len": _len,
    "print": _sprint,
    "printf": _printf,
    "println": lambda *args: " ".join(map(go_str, args)) + "\n",
    "eq": lambda a, *others: any(a == b for b in others),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": lambda *args: next((a for a in args if not a), args[-1]),
    "or": lambda *args: next((a for a in args if a), args[-1]),
    "not": lambda value: not value,
}

# docker renders a table's header by running the same template on the column
# names, with these functions returning their argument unchanged.
HEADER_FUNCTIONS = {**FUNCTIONS, **{name: (lambda text, *_: text) for name in
                                    ("json", "split", "join", "title", "lower", "upper",
                                     "truncate")}}


# --- the parse tree -------------------------------------------------------

class _Token(NamedTuple):
    kind: str
    text: str
    pos: int            # offset in the template, for Go's "line:col" in errors


class _Field(NamedTuple):
    var: Any            # None: start from dot; "$x": from a variable; a _Pipe: from (...)
    names: tuple
    text: str
    pos: int


class _Literal(NamedTuple):
    value: Any


class _Func(NamedTuple):
    name: str
    pos: int


class _Pipe(NamedTuple):
    decl: tuple         # variables declared by ``$x :=`` / ``$k, $v :=``
    cmds: tuple         # commands separated by ``|``; each a tuple of operands
    text: str
    pos: int


@dataclass
class _Block:
    kind: str           # "if", "with" or "range"
    pipe: _Pipe
    body: list = field(default_factory=list)
    orelse: list = field(default_factory=list)
    in_else: bool = False
    chained: bool = False   # an {{else if}}: closed by its parent's {{end}}


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<field>(?:\.\w+)+)
  | (?P<variable>\$\w*(?:\.\w+)*)
  | (?P<dot>\.)
  | (?P<word>[A-Za-z_]\w*)
  | (?P<punct>:=|[|(),=])
""", re.X)


class _Parser:
    """Turns a template into a list of text strings, pipes and blocks."""

    def __init__(self, template, functions):
        self.template, self.functions = template, functions

    def error(self, pos, message):
        line = self.template.count("\n", 0, pos) + 1
        return APIError(f"template parsing error: template: :{line}: {message}")

    def parse(self):
        root, stack, pos, trim_next = [], [], 0, False
        for match in _ACTION.finditer(self.template):
            text = self.template[pos:match.start()]
            text = text.lstrip() if trim_next else text
            text = text.rstrip() if match.group(1) else text
            target = (stack[-1].orelse if stack[-1].in_else else stack[-1].body) if stack else root
            if text:
                target.append(text)
            pos, trim_next = match.end(), bool(match.group(3))
            self.action(match.group(2), match.start(2), target, stack)
        if "{{" in self.template[pos:]:
            raise self.error(self.template.index("{{", pos), "unclosed action")
        if stack:
            raise self.error(len(self.template), "unexpected EOF")
        tail = self.template[pos:]
        tail = tail.lstrip() if trim_next else tail
        return root + [tail] if tail else root

    def action(self, body, start, target, stack):
        """One ``{{...}}``: a keyword opens or closes a block, else it is a pipe."""
        if body.strip().startswith("/*"):
            return
        tokens = self.tokens(body, start)
        word = tokens[0].text if tokens and tokens[0].kind == "word" else None
        if word in ("if", "with", "range"):
            stack.append(_Block(word, self.pipe(tokens[1:])))
            target.append(stack[-1])
        elif word == "else":
            if not stack or stack[-1].in_else:
                raise self.error(start, "unexpected {{else}}")
            stack[-1].in_else = True
            if len(tokens) > 1 and tokens[1].text in ("if", "with"):
                stack.append(_Block(tokens[1].text, self.pipe(tokens[2:]), chained=True))
                stack[-2].orelse.append(stack[-1])
        elif word == "end":
            if not stack:
                raise self.error(start, "unexpected {{end}}")
            while stack.pop().chained:
                pass
        elif word in ("define", "template", "block", "break", "continue"):
            raise self.error(start, f"{{{{{word}}}}} is not supported by minidock")
        else:
            target.append(self.pipe(tokens))

    def tokens(self, body, start):
        tokens, i = [], 0
        while i < len(body):
            match = _TOKEN.match(body, i)
            if not match:
                raise self.error(start + i, f"unexpected {body[i]!r} in command")
            if match.lastgroup != "space":
                tokens.append(_Token(match.lastgroup, match.group(), start + i))
            i = match.end()
        return tokens

    def pipe(self, tokens):
        decl = ()
        for n in (1, 3):                      # $x := ...   or   $k, $v := ...
            if len(tokens) > n and tokens[n].text in (":=", "="):
                decl, tokens = tuple(t.text for t in tokens[:n:2]), tokens[n + 1:]
                break
        cmds, depth, inner, closed_at = [[]], 0, [], -1
        for token in tokens:
            if depth:                         # inside parentheses: collect
                depth += {"(": 1, ")": -1}.get(token.text, 0)
                if depth:
                    inner.append(token)
                else:
                    cmds[-1].append(self.pipe(inner))
                    closed_at = token.pos + 1
            elif token.kind == "field" and token.pos == closed_at:   # (index $c 0).HostPort
                group = cmds[-1].pop()
                cmds[-1].append(_Field(group, tuple(token.text.split(".")[1:]),
                                       f"({group.text}){token.text}", token.pos))
            elif token.text == "(":
                depth, inner = 1, []
            elif token.text == "|":
                cmds.append([])
            else:
                cmds[-1].append(self.operand(token))
        pos = tokens[0].pos if tokens else 0
        if depth or not all(cmds):
            raise self.error(pos, 'missing command or unclosed "("')
        end = tokens[-1].pos + len(tokens[-1].text)
        return _Pipe(decl, tuple(map(tuple, cmds)), self.template[pos:end], pos)

    def operand(self, token):
        kind, text, pos = token
        if kind == "string":
            return _Literal(ast.literal_eval(text))
        if kind == "raw":
            return _Literal(text[1:-1])
        if kind == "number":
            return _Literal(float(text) if any(c in text for c in ".eE") else int(text))
        if kind in ("field", "dot"):
            return _Field(None, tuple(text.split(".")[1:]) if kind == "field" else (), text, pos)
        if kind == "variable":
            var, *names = text.split(".")
            return _Field(var, tuple(names), text, pos)
        if text in ("true", "false", "nil"):
            return _Literal({"true": True, "false": False, "nil": None}[text])
        if kind == "word" and text in self.functions:
            return _Func(text, pos)
        if kind == "word":
            raise self.error(pos, f'function "{text}" not defined')
        raise self.error(pos, f"unexpected {text!r} in command")


# --- execution -------------------------------------------------------------

class _Executor:
    """Runs a parsed template against data, writing into ``out``."""

    def __init__(self, template, functions, missing_key):
        self.template, self.functions, self.missing_key = template, functions, missing_key
        self.out = []

    def error(self, pos, text, message):
        line = self.template.count("\n", 0, pos) + 1
        col = pos - (self.template.rfind("\n", 0, pos) + 1)
        return APIError(f'template: :{line}:{col}: executing "" at <{text}>: {message}')

    def walk(self, nodes, dot, variables):
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, _Pipe):
                value = self.pipe(node, dot, variables)
                if not node.decl:
                    self.out.append(go_str(value))
            else:
                self.block(node, dot, dict(variables))

    def block(self, node, dot, variables):
        value = self.pipe(node.pipe, dot, variables, declare=node.kind != "range")
        if node.kind == "if":
            self.walk(node.body if value else node.orelse, dot, variables)
        elif node.kind == "with" and value:
            self.walk(node.body, value, variables)
        elif node.kind == "with":
            self.walk(node.orelse, dot, variables)
        else:
            items = self.range_items(value, node.pipe)
            for key, item in items:
                names = node.pipe.decl
                variables.update(zip(names, (key, item) if len(names) == 2 else (item,)))
                self.walk(node.body, item, variables)
            if not items:
                self.walk(node.orelse, dot, variables)

    def range_items(self, value, pipe):
        """Go ranges over a map in sorted key order, a slice by index, an int."""
        if isinstance(value, Mapping):
            return [(k, value[k]) for k in sorted(value)]
        if isinstance(value, (list, tuple)):
            return list(enumerate(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return [(i, i) for i in range(value)]
        if value is None or value is _MISSING:
            return []
        raise self.error(pipe.pos, pipe.text, f"range can't iterate over {go_str(value)}")

    def pipe(self, pipe, dot, variables, declare=True):
        value = _NO_ARG
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, variables, value, pipe)
        if declare and pipe.decl:
            variables[pipe.decl[-1]] = value
        return value

    def command(self, cmd, dot, variables, piped, pipe):
        head, *args = cmd
        if isinstance(head, _Func):
            values = [self.operand(a, dot, variables) for a in args]
            values += [] if piped is _NO_ARG else [piped]
            return self.call(head, [None if v is _MISSING else v for v in values])
        if args or piped is not _NO_ARG:
            raise self.error(pipe.pos, pipe.text, "can't give argument to non-function")
        return self.operand(head, dot, variables)

    def operand(self, node, dot, variables):
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Pipe):
            return self.pipe(node, dot, variables)
        if isinstance(node, _Func):
            return self.call(node, [])
        if node.var is None:
            value = dot
        elif isinstance(node.var, _Pipe):
            value = self.pipe(node.var, dot, variables)
        elif node.var in variables:
            value = variables[node.var]
        else:
            raise self.error(node.pos, node.text, f'undefined variable "{node.var}"')
        for name in node.names:
            value = self.field(value, name, node)
        return value

    def field(self, value, name, node):
        """``.Name`` on a dict (a key) or an object (an attribute), as Go does."""
        if value is _MISSING:
            return _MISSING
        if value is None:
            raise self.error(node.pos, node.text, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(value, Mapping):
            if name in value:
                return value[name]
            if self.missing_key == "error":
                raise self.error(node.pos, node.text, f'map has no entry for key "{name}"')
            return _MISSING
        plain = isinstance(value, (str, int, float, list, tuple)) or name.startswith("_")
        attribute = _MISSING if plain else getattr(value, name, _MISSING)
        if attribute is _MISSING:
            raise self.error(node.pos, node.text,
                             f"can't evaluate field {name} in type {_go_type(value)}")
        return attribute() if inspect.ismethod(attribute) else attribute

    def call(self, func, args):
        function = self.functions[func.name]
        try:
            inspect.signature(function).bind(*args)
        except TypeError:
            wanted = len(inspect.signature(function).parameters)
            raise self.error(func.pos, func.name, f"wrong number of args for {func.name}: "
                             f"want {wanted} got {len(args)}") from None
        try:
            return function(*args)
        except Exception as err:               # Go: "error calling NAME: ..."
            raise self.error(func.pos, func.name, f"error calling {func.name}: {err}") from None


def render(template: str, data: Any, *, functions=None, missing_key="default") -> str:
    """Execute Go template text against ``data`` and return the output.

    ``functions`` defaults to :data:`FUNCTIONS`; pass :data:`HEADER_FUNCTIONS`
    to render a table header from the column names. ``missing_key="error"``
    is Go's ``missingkey=error``, which ``docker inspect`` uses: a missing map
    key is an error instead of ``<no value>``.
    """
    functions = FUNCTIONS if functions is None else functions
    tree = _Parser(template, functions).parse()
    executor = _Executor(template, functions, missing_key)
    executor.walk(tree, data, {"$": data})
    return "".join(executor.out)


def is_table(template: str) -> bool:
    """docker's Format.IsTable: the format starts with ``table``."""
    return template.startswith("table")


def strip_table(template: str) -> str:
    """docker's Context.PreFormat for list commands (ps, images, ...):
    drop a ``table`` prefix, trim spaces, and turn the two-character
    escapes ``\\t`` and ``\\n`` into a tab and a newline."""
    if is_table(template):
        template = template[len("table"):]
    return template.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
