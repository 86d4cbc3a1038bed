"""``course_utils.scenes`` is :mod:`course_utils.data.scenes` (its home since data became a package).

The alias keeps ``from course_utils import scenes`` and ``course_utils.scenes.make_scenes``
(data/README.md) working, and makes both names one module object, so a setting changed through
either is seen by both.
"""
import sys

from .data import scenes as _scenes

sys.modules[__name__] = _scenes
