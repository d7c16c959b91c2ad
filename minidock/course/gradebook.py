"""The class's progress as an nbgrader gradebook (``gradebook.db``), written with nbgrader's own API.

nbgrader (Jupyter's grading tool) keeps a course in a SQLite database: assignments, each with
notebooks, each with *grade cells*; students; and a *submission* per student and assignment, holding a
grade per grade cell.  The course maps onto it one to one:

* an assignment per chapter, with one notebook of the same name ("01-images");
* an autograded grade cell per exercise ("exercise-3"), max score 1;
* a student per learner (their user name), and a submission per learner and chapter whose grades are
  1 for each exercise the learner got right, else 0 (``classbook.Row.right``).

``nbgrader export --db sqlite:///PATH`` (or ``nbgrader.api.Gradebook``) then reads back the scores, as
for any nbgrader course.  The file is built whole in a temp file beside ``PATH`` and renamed over it: a
reader never sees half a gradebook, and an export never mixes with an older one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .classbook import Row


def cell_name(exercise: int) -> str:
    """The grade cell of exercise ``exercise``."""
    return f"exercise-{exercise}"


def write(path: Path | str, table: list[Row]) -> Path:
    """Write the gradebook of ``table`` (classbook.rows) to ``path``, replacing any file there."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".gradebook-", suffix=".db")
    os.close(fd)
    try:
        _fill(temp, table)
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return path


def _fill(db: str, table: list[Row]) -> None:
    """nbgrader's tables for ``table``, in the SQLite file ``db``."""
    import warnings
    from nbgrader.api import Gradebook   # imported here: only an export pays for SQLAlchemy
    with Gradebook(f"sqlite:///{db}") as book, warnings.catch_warnings():
        # nbgrader 0.9's add_submission builds its objects before adding them to the session, and
        # SQLAlchemy 2 says so (SAWarning) on every one; the rows are written all the same
        warnings.filterwarnings("ignore", message=".*not in session.*")
        for chapter in sorted({r.chapter for r in table}):
            book.update_or_create_assignment(chapter)
            book.update_or_create_notebook(chapter, chapter)
            for number in sorted({r.exercise for r in table if r.chapter == chapter}):
                book.update_or_create_grade_cell(cell_name(number), chapter, chapter, max_score=1,
                                                 cell_type="code")
        for learner in sorted({r.learner for r in table}):
            book.update_or_create_student(learner)
        for (learner, chapter), rows in _submissions(table).items():
            times = [r.last_checked for r in rows if r.last_checked]
            book.add_submission(chapter, learner, **({"timestamp": max(times)} if times else {}))
            for r in rows:
                book.find_grade(cell_name(r.exercise), chapter, chapter, learner).auto_score = float(r.right)
        book.db.commit()


def _submissions(table: list[Row]) -> dict[tuple[str, str], list[Row]]:
    """The rows of each (learner, chapter)."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for r in table:
        grouped.setdefault((r.learner, r.chapter), []).append(r)
    return grouped
