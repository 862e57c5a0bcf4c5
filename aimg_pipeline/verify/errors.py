"""The two errors of ``aimg verify``: what the caller sees, and what a reader raises inside."""

from __future__ import annotations


class VerifyError(RuntimeError):
    """A published folder does not hold up on its own."""


class Malformed(ValueError):
    """A file cannot be read as what it must be; the message says where and why."""
