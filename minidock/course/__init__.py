"""The course: what the notebooks call, beside the engine and never inside it.

``chapter.py`` gives each chapter a fresh store and its first and last lines
(``client = course.start("01-images")``, ``course.finish(client)``),
``exercises/`` checks what the learner did (``course.check(chapter, n, client)``),
and ``viz/`` draws what the engine made (graphviz pictures with text twins,
ipywidgets), only reading.

May use: ``api`` and the flat modules.
"""

from .chapter import (COURSE_EPOCH, HOST_ROOT, course_root, finish, free_port, lacking, mode_line, needs, registry,
                      start)
from .exercises import check

__all__ = ["COURSE_EPOCH", "HOST_ROOT", "check", "course_root", "finish", "free_port", "lacking", "mode_line", "needs",
           "registry", "start"]
