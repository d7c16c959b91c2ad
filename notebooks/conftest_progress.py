"""Keep a test run's checks out of the real home: the learner's progress file goes to a temp dir.

``course.check`` records each verdict in the progress file of whoever runs it
(``minidock/course/record.py``); a test session, and the nbval kernels it starts (they inherit its
environment), must not write into the home of the user running ``make test``.  Both conftests
(``tests/`` and ``notebooks/``) call this once, at import.
"""

import atexit
import os
import shutil
import tempfile


def keep_progress_away() -> None:
    """Point MINIDOCK_COURSE_PROGRESS at a temp dir of this process, removed at exit (once per session)."""
    if os.environ.get("MINIDOCK_COURSE_PROGRESS_SESSION") == str(os.getpid()):
        return
    temp = tempfile.mkdtemp(prefix="minidock-progress-")
    os.environ["MINIDOCK_COURSE_PROGRESS"] = os.path.join(temp, "course-progress.json")
    os.environ["MINIDOCK_COURSE_PROGRESS_SESSION"] = str(os.getpid())
    atexit.register(shutil.rmtree, temp, True)
