"""The rule for a file path a user gives (a task's or run's files), checked by every hop.

A path is relative and normalised: components of letters, digits and `._-+@=,` separated by
`/`, none empty, `.` or `..`, none starting with `-` (a compiler would take `-o...` for an
option), at most MAX_DEPTH deep and MAX_PATH long. Nothing a user writes can therefore name a
place outside the work dir, or be anything but a plain name to the commands that receive it.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DEPTH", "MAX_PATH", "path_problem"]

MAX_PATH = 255
MAX_DEPTH = 16
_COMPONENT = re.compile(r"^[A-Za-z0-9._+@=,][A-Za-z0-9._+@=,-]*$")


def path_problem(path: str) -> str:
    """Why `path` is not an acceptable file path ('' when it is)."""
    if not path or len(path) > MAX_PATH:
        return f"must be 1 to {MAX_PATH} characters"
    if path.startswith("/"):
        return "must be relative"
    parts = path.split("/")
    if len(parts) > MAX_DEPTH:
        return f"must be at most {MAX_DEPTH} directories deep"
    for part in parts:
        if part in ("", ".", ".."):
            return "must be normalised (no empty, '.' or '..' parts)"
        if not _COMPONENT.match(part):
            return "may hold only letters, digits and ._-+@=, (not starting with -)"
    return ""
