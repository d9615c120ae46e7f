"""The one exception the command-line tools turn into a one-line message.

Learners run the training script by hand; a traceback for a typo in a folder name hides the
fix. Code that finds bad input raises :class:`UsageError` with a sentence naming the problem and
the fix, and the command prints ``error: <sentence>`` and exits with status 2.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input or environment that the user can fix; the message says how."""


__all__ = ["UsageError"]
