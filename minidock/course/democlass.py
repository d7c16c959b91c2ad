"""A demo class for the teacher's notebook: three pretend learners, their progress made by the real checkers.

Where no class has worked yet (the course's own test run, a teacher trying the notebook first), the
teacher's view needs someone to look at.  ``make()`` plays three learners, one after the other, each
with a progress file of their own in a temp directory (``MINIDOCK_COURSE_PROGRESS``, as a learner's
kernel would have its own in their home): each starts real chapter stores with ``course.start``,
does the work of an exercise (right, wrong, or not at all) and runs ``course.check`` on it, so every
record is a verdict a checker gave, never one written by hand::

    learners = democlass.make()        # [Learner("ada", ...), Learner("bo", ...), Learner("cy", ...)]

What each does is fixed, so the view prints the same on every run: ada gets chapter 00's and 01's
second exercises right; bo gets 00's right at the second try and 01's wrong; cy tries 00's once.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

from ..api.client import Client
from . import record
from .chapter import COURSE_EPOCH, finish, start
from .classbook import Learner
from .exercises.ch01_images import crossing_of
from .exercises.checking import check

# what course.start sets and the demo must give back as it found it
ENVIRONMENT = ("MINIDOCK_COURSE_PROGRESS", "MINIDOCK_ROOT", "SOURCE_DATE_EPOCH", "COURSE_DOCS")
ANOTHER_CLOCK = 1600000000   # 2020-09-13T12:26:40Z: chapter 00's exercise 2 wants a clock not the course's


def make(where: Path | str | None = None) -> list[Learner]:
    """Play the three learners, their progress files under ``where`` (a new temp dir by default);
    print each verdict; return them as the teacher's view takes learners."""
    where = Path(where or tempfile.mkdtemp(prefix="minidock-demo-class-"))
    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    try:
        return [_learner(where, name, work) for name, work in (("ada", _ada), ("bo", _bo), ("cy", _cy))]
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


def _learner(where: Path, name: str, work) -> Learner:
    learner = Learner(name, where / name / record.FILE_NAME)
    os.environ["MINIDOCK_COURSE_PROGRESS"] = str(learner.progress_file)
    for chapter, number, verdict in work():
        print(f"{name:<4} {chapter} {number}  {verdict}")
    return learner


@contextlib.contextmanager
def _chapter(name: str):
    """A real chapter store, its mode line kept out of the teacher's view, removed after."""
    with contextlib.redirect_stdout(io.StringIO()):
        client = start(name)
    try:
        yield client
    finally:
        finish(client)


def _mine(clock: int) -> None:
    """Chapter 00's exercise 2: busybox bootstrapped in the store ``mine/`` at ``clock``."""
    shutil.rmtree("mine", ignore_errors=True)
    os.environ["SOURCE_DATE_EPOCH"] = str(clock)
    try:
        Client(Path("mine").resolve()).images.bootstrap()
    finally:
        os.environ["SOURCE_DATE_EPOCH"] = str(COURSE_EPOCH)


def _image_id() -> str:
    return Client(Path("mine").resolve()).images.get("busybox").id


def powers_of_ten(digits: int) -> int:
    """bo's answer: the first power of ten past one half, not narrowed down."""
    from ..api.system import collision_probability
    return next(10 ** k for k in range(1, 40) if collision_probability(10 ** k, digits) >= 0.5)


def _ada():
    with _chapter("00-setup") as client:
        _mine(ANOTHER_CLOCK)
        yield "00-setup", 2, check("00-setup", 2, client, image_id=_image_id())
    with _chapter("01-images") as client:
        yield "01-images", 2, check("01-images", 2, client, crossing=crossing_of)  # the checker's own: right


def _bo():
    with _chapter("00-setup") as client:
        _mine(COURSE_EPOCH)   # the chapter's own clock: the very same ID
        yield "00-setup", 2, check("00-setup", 2, client, image_id=_image_id())
        _mine(ANOTHER_CLOCK)
        yield "00-setup", 2, check("00-setup", 2, client, image_id=_image_id())
    with _chapter("01-images") as client:
        yield "01-images", 2, check("01-images", 2, client, crossing=powers_of_ten)


def _cy():
    with _chapter("00-setup") as client:
        yield "00-setup", 2, check("00-setup", 2, client, image_id=None)
