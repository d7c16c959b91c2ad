"""Checking exercises: the ``Verdict``, the registry of checkers and the helpers they share.

Every exercise is checked by one call, the chapter's name and the exercise's number::

    course.check("01-images", 3, client)                          # looks at the store
    course.check("01-images", 2, client, crossing=crossing)       # and your answers

Keyword arguments are your answers: the notebook's check cell names them, set
to ``None`` for you to replace.  A checker looks at the real state (images,
layers, containers, the chapter's registry, files in the working directory)
and at your answers, and returns one line, a ``Verdict`` (kept in the learner's progress file,
``course/record.py``)::

    ✓ right: ...
    ✗ not yet: what is wrong, and a hint

A wrong or missing answer is never a traceback.  ``verdict.right`` is True or
False (the solutions in ``notebooks/solutions/`` assert it).  Adding an
exercise is one function under ``@exercise(chapter, number)`` that raises
``NotYet`` with a hint, or returns what was right.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Callable

from ...api.client import Client
from ...errors import MinidockError
from .. import record
from ..lang import say


class Verdict(str):
    """One line, "✓ right: ..." or "✗ not yet: ..." (中文版: "✓ 正确：..." or "✗ 还不对：..."); shown as
    itself in a notebook."""

    def __new__(cls, right: bool, text: str):
        mark = say("✓ right: ", "✓ 正确：") if right else say("✗ not yet: ", "✗ 还不对：")
        verdict = super().__new__(cls, mark + text)
        verdict.right = right
        return verdict

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


class NotYet(Exception):
    """Raised by a checker: the message says what is wrong and hints at what to do."""


CHECKERS: dict[tuple[str, int], Callable[..., str]] = {}


def exercise(chapter: str, number: int):
    """Register the decorated function as the checker of ``chapter``'s exercise ``number``."""
    def register(checker):
        CHECKERS[chapter, number] = checker
        return checker
    return register


def load(chapter: str) -> None:
    """Register ``chapter``'s checkers by importing its module (``chNN_name.py``), if it has one."""
    try:
        importlib.import_module(f"{__package__}.ch{chapter.replace('-', '_')}")
    except ModuleNotFoundError as e:
        if not e.name.startswith(f"{__package__}.ch"):
            raise


def load_all() -> dict[tuple[str, int], Callable[..., str]]:
    """Every chapter's checkers, registered (the tests go through them all)."""
    for module in sorted(Path(__file__).parent.glob("ch[0-9][0-9]_*.py")):
        importlib.import_module(f"{__package__}.{module.stem}")
    return CHECKERS


def check(chapter: str, number: int, client: Client, **answers) -> Verdict:
    """Check exercise ``number`` of ``chapter`` against the store of ``client`` and ``answers``."""
    load(chapter)
    checker = CHECKERS.get((chapter, number))
    if checker is None:
        known = sorted(n for c, n in CHECKERS if c == chapter)
        return Verdict(False, say(f"{chapter} has no exercise {number} (it has {known or 'none'})",
                                  f"{chapter} 没有第 {number} 题（它有 {known or '无'}）"))
    verdict = _answered(checker, client, answers)
    verdict.exercise = number
    record.note(chapter, number, verdict.right, verdict)  # the learner's progress file, outside the store
    return verdict


def _answered(checker: Callable[..., str], client: Client, answers: dict) -> Verdict:
    """The checker's verdict, or "not yet" for an answer the exercise does not take."""
    names = list(inspect.signature(checker).parameters)[1:]
    unknown = sorted(set(answers) - set(names))
    if unknown:
        takes = ', '.join(n + '=' for n in names)
        return Verdict(False, say(f"this exercise takes no answer {', '.join(unknown)}= (it takes {takes or 'none'})",
                                  f"这道题没有答案 {', '.join(unknown)}=（它要的是 {takes or '无'}）"))
    return _verdict(checker, client, answers)


def _verdict(checker: Callable[..., str], client: Client, answers: dict) -> Verdict:
    try:
        return Verdict(True, checker(client, **answers))
    except NotYet as wrong:
        return Verdict(False, str(wrong))
    except (MinidockError, OSError, ValueError, TypeError, KeyError) as error:
        return Verdict(False, say(f"{error} (a name or an answer of the wrong kind?)",
                                  f"{error}（名字或答案的类型不对？）"))


# -- helpers the checkers share --------------------------------------------------------------

def need(**answers) -> None:
    """Every answer given, or NotYet naming the missing ones."""
    missing = [name for name, value in answers.items() if value is None]
    if missing:
        fields = ', '.join(m + '=' for m in missing)
        raise NotYet(say(f"fill in your answer{'s' if len(missing) > 1 else ''} {fields} in the check cell",
                         f"请在检查单元格里填写答案 {fields}"))


def image_or_hint(client: Client, name: str, hint: str):
    """The image ``name``, or NotYet saying it is missing and how to make it."""
    try:
        return client.images.get(name)
    except MinidockError:
        raise NotYet(say(f"there is no image {name} yet: {hint}", f"还没有镜像 {name}：{hint}")) from None


def container_or_hint(client: Client, name: str, hint: str):
    """The container ``name``, or NotYet saying it is missing."""
    try:
        return client.containers.get(name)
    except MinidockError:
        raise NotYet(say(f"there is no container {name}: {hint}", f"没有容器 {name}：{hint}")) from None


def same_digest(answer, digest: str) -> bool:
    """Whether ``answer`` names ``digest``: the whole of it or its first 12 or more hex digits."""
    hex_answer = str(answer).strip().removeprefix("sha256:")
    return len(hex_answer) >= 12 and digest.removeprefix("sha256:").startswith(hex_answer)


def names(values) -> set[str]:
    """Answers like ``["lo"]`` or ``"lo eth0"`` as a set of words."""
    return set(values.split()) if isinstance(values, str) else {str(v) for v in values}


def containers_where(client: Client, test: Callable[[dict], bool]) -> list:
    """Every container (running or not) whose ``inspect`` passes ``test``."""
    return [c for c in client.containers.list(all=True) if test(c.attrs)]


def command_of(attrs: dict) -> str:
    return " ".join(attrs["Config"]["Cmd"] or [])


def top_layer_files(client: Client, image) -> set[str]:
    """Paths in the image's own (top) layer, as ``/etc/motd``."""
    top = client.store.layer_dir(image.record.chain_ids[-1]) / "diff"
    return {"/" + str(p.relative_to(top)) for p in top.rglob("*")}
