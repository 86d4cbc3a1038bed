"""Where the repository's folders are: computed once, here, from this package's location.

Plain ``pathlib`` only, so that light processes (the grading sandbox's launcher) can import it
without importing torch.
"""
from pathlib import Path

#: The repository (or unzipped student kit) that holds ``course_utils/``.
REPO_ROOT = Path(__file__).resolve().parents[1]
