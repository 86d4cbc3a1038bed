"""Instructor and CI tooling for the course: grading (nbgrader release, checks, autograding in a
sandbox), the benchmark, the training recipes and the ``course`` command.

It may import :mod:`course_utils`; ``course_utils`` never imports it (students install and
receive ``course_utils`` alone).
"""
__version__ = "0.1.0"
