"""Exceptions with one-line messages that name the offending file."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (video, ground truth, dataset layout, config).

    The message is one line: ``"<path>: <problem>"``.
    """


class ConfigError(InputError):
    """Invalid or unreadable configuration."""
