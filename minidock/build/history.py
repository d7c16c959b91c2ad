"""The history line (``created_by``) of each build step, exactly as Docker's classic builder writes it.

dockerd writes them with Go's ``fmt`` (moby ``builder/dockerfile/dispatchers.go``), and ``docker history``
shows them, so they are part of what a user sees:

* a config-only step: the shell, ``#(nop)``, *two* blanks, the instruction: ``/bin/sh -c #(nop)  ENV A=1``
  (the shell is the one in force after the step: a SHELL step already shows its new shell);
* COPY/ADD and WORKDIR: one blank, ``/bin/sh -c #(nop) COPY file:<hash> in /dest `` (a blank at the end;
  ``--chown=U:G`` glued to the hash);
* RUN: the command itself, after ``|N KEY=value ...`` when build args are in force;
* CMD, ENTRYPOINT and HEALTHCHECK print their values with Go's ``%q`` (``["echo" "hi"]``), SHELL and
  VOLUME with ``%v`` (``[/bin/sh -c]``).
"""

from __future__ import annotations

GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
              "\\": r"\\"}


def go_quote(text: str, quote: str = '"') -> str:
    """Go's ``strconv.Quote`` (``%q``): printable characters as they are, the rest escaped."""
    out = []
    for ch in text:
        if ch == quote:
            out.append("\\" + ch)
        elif ch in GO_ESCAPES:
            out.append(GO_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return quote + "".join(out) + quote


def go_quoted_list(items: list[str]) -> str:
    """``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


def go_list(items: list[str]) -> str:
    """``%v`` of a ``[]string``: ``[a b]``."""
    return "[" + " ".join(items) + "]"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``30s``, ``1m30s``, ``1h0m0s``, ``500ms``, ``0s``."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{ns / size:.9f}".rstrip("0").rstrip(".") + unit
    seconds = ns / 1e9
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def healthcheck_text(check: dict) -> str:
    """``%q`` of the ``*HealthConfig`` the instruction set (before the parent's values fill its zeros):
    ``&{["CMD-SHELL" "curl x"] "30s" "3s" "0s" '\\x03'}``; Retries is an int, which ``%q`` shows as a rune."""
    durations = [go_quote(go_duration(check.get(key, 0))) for key in ("Interval", "Timeout", "StartPeriod")]
    return "&{" + " ".join([go_quoted_list(check["Test"]), *durations, go_quote(chr(check.get("Retries", 0)), "'")]) + "}"


def nop(shell: list[str], text: str) -> str:
    """A config-only step's line."""
    return f"{' '.join(shell)} #(nop)  {text}"


def nop_files(shell: list[str], text: str) -> str:
    """A COPY, ADD or WORKDIR step's line (one blank after ``#(nop)``)."""
    return f"{' '.join(shell)} #(nop) {text}"


def copy_text(instruction: str, chown: str | None, source_hash: str, dest: str) -> str:
    """``COPY --chown=1:1file:<hash> in /dest `` as dockerd's ``performCopy`` formats it."""
    return f"{instruction} {f'--chown={chown}' if chown else ''}{source_hash} in {dest} "


def run_text(argv: list[str], build_args: dict[str, str]) -> str:
    """A RUN's line: ``|2 A=1 B=2 /bin/sh -c ...`` when build args are in force (sorted), else the command."""
    if not build_args:
        return " ".join(argv)
    pairs = sorted(f"{k}={v}" for k, v in build_args.items())
    return " ".join([f"|{len(pairs)}", *pairs, *argv])
