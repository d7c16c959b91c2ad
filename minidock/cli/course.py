"""``minidock course progress``: the exercises a learner got right, and the teacher's view of a class.

A learner sees their own progress file (``course/record.py``), one row per exercise of the course;
root, the teacher, sees every learner's (``--all``: each local user of uid >= 1000 with a progress file,
or ``--learner NAME``, repeated), one row per learner.  ``--format csv`` gives one row per learner and
exercise (the columns of ``course/classbook.py``'s ``Row``); ``--gradebook PATH`` writes an nbgrader
gradebook (``course/gradebook.py``).
"""

from __future__ import annotations

from ..api.client import Client
from ..errors import MinidockError, UsageError
from .base import command, flag, out

FORMATS = ("table", "csv")


@command("course", "COMMAND", "The course: what its learners got right", counts=(1, None))
def course_cmd(client: Client, opts) -> int:
    raise UsageError(f'unknown command "{opts.args[0]}" for "minidock course"')  # the rest: see dispatch


@command("course progress", "[OPTIONS]", "Show which of the course's exercises are right, yours or a class's",
         flag("-a", "--all", action="store_true", help="Every learner on this machine (uid >= 1000; run as root)"),
         flag("--learner", action="append", default=[], help="A learner's user name (repeatable; run as root)"),
         flag("--format", default="table", help="table, or csv: a row per learner and exercise"),
         flag("--gradebook", metavar="PATH", help="Also write an nbgrader gradebook (SQLite) to PATH"),
         counts=(0, 0))
def course_progress_cmd(client: Client, opts) -> int:
    from ..course import classbook
    if opts.format not in FORMATS:
        raise UsageError(f'unknown format "{opts.format}": choose {" or ".join(FORMATS)}')
    class_view = opts.all or bool(opts.learner)
    learners = classbook.learners(every=opts.all, names=tuple(opts.learner))
    table = classbook.rows(learners)
    if opts.gradebook:
        write_gradebook(opts.gradebook, table)
    if opts.format == "csv":
        print(classbook.to_csv(table), end="", flush=True)
    elif class_view:
        out(classbook.class_table(table))
    else:
        out(classbook.own_table(table))
    return 0


def write_gradebook(path: str, table) -> None:
    """The nbgrader gradebook of ``table`` at ``path``, and a line saying so (on stderr: stdout may be CSV)."""
    import sys
    try:
        from ..course import gradebook
        gradebook.write(path, table)
    except ImportError as e:
        raise MinidockError(f"--gradebook needs nbgrader ({e}): pip install 'minidock[classroom]'") from None
    except OSError as e:   # its directory is missing or not writable: name the path the user gave
        raise MinidockError(f"cannot write the gradebook {path}: {e.strerror or e}") from None
    learners = len({r.learner for r in table})
    print(f"Wrote the gradebook {path}: {learners} learner{'s' * (learners != 1)}, "
          f"{len(table) // max(learners, 1)} exercises", file=sys.stderr, flush=True)
