"""The chapters' exercises, each with a checker that says what is right or wrong.

``checking.py`` holds what every checker shares (``Verdict``, ``NotYet``,
``@exercise``, ``check``); ``chNN_name.py`` holds chapter NN's checkers, loaded
the first time one of them is asked for.
"""

from .checking import CHECKERS, NotYet, Verdict, check, exercise, load_all

__all__ = ["CHECKERS", "NotYet", "Verdict", "check", "exercise", "load_all"]
