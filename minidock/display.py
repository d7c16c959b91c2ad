"""How docker prints things: sizes, ages, times and column tables.

Each function follows the Go code docker's CLI calls, so minidock's tables
read like docker's, character for character:

* sizes and ages: ``github.com/docker/go-units`` (``HumanSizeWithPrecision``,
  ``HumanDuration``);
* tables: Go's ``text/tabwriter`` as docker's formatter sets it up,
  ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``;
* times: Go's ``time.RFC3339Nano``, as ``docker inspect`` shows them.
"""

from __future__ import annotations

import math
import re
import time

TYPE_CHECKING = False  # typing's, without importing typing: every command would pay for it
if TYPE_CHECKING:
    from decimal import Decimal

_DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float, precision: int = 3) -> str:
    """go-units' HumanSizeWithPrecision: decimal units (1kB = 1000B), ``%.*g``.

    ``docker images`` and ``docker ps -s`` use precision 3 ("4.26MB");
    go-units' plain HumanSize uses 4. Like Go's ``%g``, a value that rounds
    up to 1000 prints in exponent form: 999999 → "1e+03kB", as docker does.
    """
    unit = 0
    while size >= 1000 and unit < len(_DECIMAL_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.{precision}g}{_DECIMAL_UNITS[unit]}"


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration: "Less than a second", "About a minute", "3 weeks".

    Seconds and minutes are truncated; hours are rounded (1h29m is
    "About an hour", 1h31m is "2 hours"); days, weeks, months (30 days)
    and years (365 days) are counted from the rounded hours.
    """
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // (24 * 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // (24 * 30)} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def time_ago(ts: float, now: float | None = None) -> str:
    """docker's CREATED column: ``HumanDuration(now - ts) + " ago"``."""
    return human_duration((time.time() if now is None else now) - ts) + " ago"


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated ``text`` as docker's Go tabwriter does.

    A cell ended by a tab belongs to a column as wide as its widest cell plus
    ``padding``, and at least ``minwidth``; the text after a line's last tab
    is not in a column and is not padded. Trailing spaces are stripped (Go
    keeps them when a line's last cell is empty; notebooks and editors don't).
    Go's tabwriter also restarts a column at a line that lacks it; docker's
    tables have the same cells on every line, so one width per column will do.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    widths = {}
    for cells in lines:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, minwidth), len(cell) + padding)

    def aligned(cells):
        padded = "".join(cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1]))
        return (padded + cells[-1]).rstrip()

    return "\n".join(map(aligned, lines))


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A docker table (``REPOSITORY   TAG       IMAGE ID ...``), no final newline."""
    return tabwrite("\n".join("\t".join(cells) for cells in [headers, *rows]))


def rfc3339(ts: float | int | Decimal) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: "2024-01-02T03:04:05.123456789Z".

    The fraction keeps at most nine digits and loses its trailing zeros, and
    its dot when nothing is left ("2024-01-02T03:04:05Z"). A float gives the
    digits of its shortest repr; pass a Decimal to keep nanoseconds exactly.
    Go's zero time (``0001-01-01T00:00:00Z``, docker's "never") round-trips.
    """
    from datetime import datetime, timedelta  # here, not at the top: -v and --help would pay for them
    from decimal import Decimal
    exact = Decimal(str(ts))
    seconds = math.floor(exact)
    nanos = int((exact - seconds) * 1_000_000_000)
    stamp = (datetime(1970, 1, 1) + timedelta(seconds=seconds)).isoformat(timespec="seconds")
    fraction = f"{nanos:09d}".rstrip("0")
    return stamp + ("." + fraction if fraction else "") + "Z"


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?"
                      r"(?:[Zz]|([+-])(\d\d):(\d\d))")


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time ("...Z" or "...+02:00").

    Raises ValueError, as Go's time.Parse fails, on anything else.
    """
    match = _RFC3339.fullmatch(text)
    if not match:
        raise ValueError(f'parsing time "{text}" as RFC 3339: not a valid time')
    import calendar  # here, not at the top: it imports locale, and only tables of ages parse times
    *fields, fraction, sign, hours, minutes = match.groups()
    seconds = calendar.timegm(tuple(map(int, fields)))
    if sign:
        offset = int(hours) * 3600 + int(minutes) * 60
        seconds -= offset if sign == "+" else -offset
    return seconds + float(fraction or 0)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(h|ms|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}


def parse_instant(text: str, now: float) -> float:
    """docker's ``--since``/``--until``: Unix seconds (``1700000000.5``), an RFC 3339 time, or a Go
    duration (``10m``, ``1h30m``) that far before ``now``. Raises ValueError on anything else."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if _DURATION.fullmatch(text):
        return now - parse_duration(text)
    return parse_rfc3339(text)


def parse_duration(text: str) -> float:
    """A Go duration (``24h``, ``1h30m``, ``90s``, a bare ``0``) in seconds. Raises ValueError, with Go's
    time.ParseDuration message, on anything else."""
    if text == "0":
        return 0.0
    if not _DURATION.fullmatch(text):
        raise ValueError(f'time: invalid duration "{text}"')
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


_BINARY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: str | int) -> int:
    """docker's ``--memory 64m``: go-units RAMInBytes, binary units (k = 1024)."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtb]?)i?b?\s*", value.lower())
    if not match:
        raise ValueError(f"invalid size: '{value}'")
    return int(float(match.group(1)) * _BINARY_UNITS[match.group(2)])
