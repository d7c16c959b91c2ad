"""The teacher's view: which exercises each learner got right, read from their progress files.

``record.py`` writes one learner's file in their home; this module reads one or
many of them (a teacher, as root, reads every learner's; a learner only their
own, the file is 0600) and turns them into rows, one per learner and exercise
of the course, for the ``minidock course progress`` table, for CSV, and for an
nbgrader gradebook (``gradebook.py``)::

    learners = classbook.learners(every=True)            # uid >= 1000 with a progress file
    rows = classbook.rows(learners)                      # [Row(learner, chapter, exercise, ...)]

An exercise counts as right once it was right (``first_right``): running a
chapter again from the top does not take it back.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path
from typing import NamedTuple

from ..display import format_table, time_ago
from ..errors import Forbidden, NotFound
from . import record

# uid 1000 and up are people (Debian Policy 9.2.2: 1000-59999 are for user accounts); 65534 is nobody
FIRST_LEARNER_UID, NOBODY_UID = 1000, 65534


class Learner(NamedTuple):
    name: str
    progress_file: Path


class Row(NamedTuple):
    """One learner's standing on one exercise: CSV's columns, in order (``COLUMNS``)."""
    learner: str
    chapter: str
    exercise: int
    right: bool            # right at least once
    attempts: int
    first_right: str       # ISO 8601 UTC, "" if never
    last_checked: str      # ISO 8601 UTC, "" if never checked
    last_right: bool       # the last check's verdict
    last_verdict: str      # its text


COLUMNS = Row._fields


def me() -> Learner:
    """The user running this, with their own progress file (MINIDOCK_COURSE_PROGRESS or XDG's)."""
    import pwd
    return Learner(pwd.getpwuid(os.getuid()).pw_name, record.progress_file())


def learners(every: bool = False, names: tuple[str, ...] = ()) -> list[Learner]:
    """The learners named (NotFound for a name that is no local user), or, with ``every``, each local
    user of uid >= 1000 who has a progress file; neither: the user running this."""
    import pwd
    if not every and not names:
        return [me()]
    found = []
    for name in names:
        try:
            found.append(Learner(name, record.file_of(pwd.getpwnam(name).pw_dir)))
        except KeyError:
            raise NotFound(f"no such learner: {name} (not a local user)") from None
    if every:
        found += [Learner(user.pw_name, record.file_of(user.pw_dir)) for user in pwd.getpwall()
                  if FIRST_LEARNER_UID <= user.pw_uid != NOBODY_UID and record.file_of(user.pw_dir).is_file()]
    unique = {learner.name: learner for learner in found}
    return [unique[name] for name in sorted(unique)]


def exercises() -> list[tuple[str, int]]:
    """Every exercise of the course, (chapter, number), in course order."""
    from .exercises.checking import load_all
    return sorted(load_all())


def entries_of(learner: Learner) -> dict[str, dict]:
    """The learner's recorded verdicts; Forbidden, in one line, if their file cannot be read."""
    try:
        return record.read(learner.progress_file)
    except PermissionError:
        raise Forbidden(f"cannot read the progress of {learner.name} ({learner.progress_file}): permission "
                        "denied (a learner sees only their own; the teacher runs this as root)") from None
    except OSError as error:
        raise Forbidden(f"cannot read the progress of {learner.name} ({learner.progress_file}): "
                        f"{error.strerror or error}") from None


def rows(of: list[Learner], course: list[tuple[str, int]] | None = None) -> list[Row]:
    """One row per learner and exercise of ``course`` (every exercise, by default), plus any exercise a
    learner's file names that the course no longer has."""
    course = exercises() if course is None else course
    table = []
    for learner in of:
        entries = entries_of(learner)
        recorded = {(entry["chapter"], entry["exercise"]) for entry in entries.values()}
        for chapter, number in sorted(set(course) | recorded):
            table.append(row(learner.name, chapter, number, entries.get(f"{chapter}/{number}")))
    return table


def row(learner: str, chapter: str, number: int, entry: dict | None) -> Row:
    """``entry`` (None: never checked) as a Row."""
    entry = entry or {}
    return Row(learner, chapter, number, bool(entry.get("first_right")), entry.get("attempts", 0),
               entry.get("first_right") or "", entry.get("last") or "", bool(entry.get("right")),
               entry.get("verdict", ""))


def to_csv(table: list[Row]) -> str:
    """RFC 4180 CSV with a header row of ``COLUMNS``; booleans as 1 and 0 (a spreadsheet sums them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in table:
        writer.writerow([int(v) if isinstance(v, bool) else v for v in r])
    return out.getvalue()


def solved(table: list[Row]) -> dict[str, list[Row]]:
    """Per learner, the rows of the exercises they got right (a learner with none still listed)."""
    by_learner: dict[str, list[Row]] = {}
    for r in table:
        by_learner.setdefault(r.learner, [])
        if r.right:
            by_learner[r.learner].append(r)
    return by_learner


def own_table(table: list[Row]) -> str:
    """``CHAPTER  EXERCISE  RIGHT  ATTEMPTS  LAST CHECKED``, a row per exercise of the course."""
    now = time.time()
    return format_table(["CHAPTER", "EXERCISE", "RIGHT", "ATTEMPTS", "LAST CHECKED"],
                        [[r.chapter, str(r.exercise), "right" if r.right else "not yet", str(r.attempts),
                          _ago(r.last_checked, now)] for r in table])


def class_table(table: list[Row]) -> str:
    """``LEARNER  RIGHT  EXERCISES RIGHT``, a row per learner: how many, and which ("01/3": chapter 01's
    exercise 3)."""
    exercises = len({(r.chapter, r.exercise) for r in table})
    return format_table(["LEARNER", "RIGHT", "EXERCISES RIGHT"],
                        [[learner, f"{len(rows)}/{exercises}",
                          " ".join(f"{r.chapter[:2]}/{r.exercise}" for r in rows) or "-"]
                         for learner, rows in sorted(solved(table).items())])


def grid(table: list[Row]) -> str:
    """Learners down, every exercise someone checked across: ✓ right, ✗ checked but not right (yet), · not
    checked."""
    tried = sorted({(r.chapter, r.exercise) for r in table if r.attempts})
    marks = {(r.learner, r.chapter, r.exercise): "✓" if r.right else "✗" if r.attempts else "·" for r in table}
    return format_table(["LEARNER", *(f"{chapter[:2]}/{number}" for chapter, number in tried)],
                        [[learner, *(marks[learner, c, n] for c, n in tried)]
                         for learner in sorted({r.learner for r in table})])


def _ago(stamp: str, now: float) -> str:
    """An ISO 8601 UTC time as docker's "3 minutes ago"; "-" for never."""
    if not stamp:
        return "-"
    import calendar
    try:
        return time_ago(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")), now)
    except (ValueError, TypeError):   # not a time record.note wrote: shown as it is
        return str(stamp)
