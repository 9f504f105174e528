"""The one error the data layer raises for bad input: a ValueError whose message names the config field."""
from __future__ import annotations


class DataError(ValueError):
    """Bad data input (a missing or empty corpus, an unreadable file, a sequence too long for the data).

    The message starts with the config field to change, e.g. ``data.path: no such file or directory: /x``.
    """
