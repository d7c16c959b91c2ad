"""The course's two editions: what the course itself prints (verdicts, hints, tables), in the learner's language.

A chapter's first code cell picks the edition, and that is the one line where the two editions' code
differs::

    client = course.start("01-images")               # the English edition
    client = course.start("01-images", lang="zh")    # 中文版

Everything the course says then goes through ``say(english, chinese)``, which gives the text of the
edition in force; ``MINIDOCK_COURSE_LANG`` picks it for scripts (the solutions) and the tests.  Docker's
own output (``minidock`` commands) stays English in both, as Docker's does.
"""

from __future__ import annotations

import os

LANGUAGES = ("en", "zh")
_edition = {"lang": None}


def use(lang: str) -> None:
    """Make ``lang`` ("en" or "zh") the edition the course speaks from now on."""
    if lang not in LANGUAGES:
        raise ValueError(f"no {lang!r} edition: the course has {', '.join(LANGUAGES)}")
    _edition["lang"] = lang


def current() -> str:
    """The edition in force: the one ``use`` chose, else ``MINIDOCK_COURSE_LANG``, else English."""
    lang = _edition["lang"] or os.environ.get("MINIDOCK_COURSE_LANG") or "en"
    return lang if lang in LANGUAGES else "en"


def say(en: str, zh: str) -> str:
    """The text of the edition in force."""
    return zh if current() == "zh" else en
