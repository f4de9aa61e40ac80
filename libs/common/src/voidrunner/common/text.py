"""What text can travel through our services and be stored in PostgreSQL."""

from __future__ import annotations


def is_storable_text(value: str) -> bool:
    """True when `value` has no NUL (text columns refuse it) and no lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
