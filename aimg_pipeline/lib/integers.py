"""What counts as an integer wherever money, epochs, blocks or timestamps are taken in.

``bool`` is a subclass of ``int`` in Python, but ``True`` as an amount, an epoch or a
timestamp is always a bug; every validator of the project asks this one question.
"""

from __future__ import annotations


def is_int(value: object) -> bool:
    """``value`` is an ``int`` and not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)
