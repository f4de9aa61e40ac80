"""Pydantic's validation errors in the contract's words.

Clients never see pydantic's wording ("Input should be a valid integer"): every error type a
request can produce gets our own text in one style, `<field> must ...`, and a rule tag of the
small vocabulary the tasks service uses too (required, type, min, max, oneof, format, ...).
Our own validators raise PydanticCustomError with a finished text, which passes unchanged; a
plain ValueError's text is a predicate and gets the field's name in front.

A request fails in one of three ways, checked in this order:
  bad path or query parameter   400 {"error": <that parameter's text>}
  body that is not a JSON object 400 {"error": "Invalid request format", "details": ...}
  fields that break their rules  400 {"error": "Validation failed", "validation_errors": [...]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Fields whose values must never be echoed back in validation errors.
SECRET_FIELDS = frozenset({"password", "refresh_token", "access_token"})
PARAMETER_LOCATIONS = ("path", "query", "header")
_KINDS = {
    "string_type": "a string",
    "string_unicode": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_parsing_size": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "uuid_type": "a UUID",
    "uuid_parsing": "a UUID",
}
_TAGS = {
    "missing": "required",
    "string_too_short": "min",
    "too_short": "min",
    "string_too_long": "max",
    "too_long": "max",
    "greater_than_equal": "min",
    "greater_than": "min",
    "less_than_equal": "max",
    "less_than": "max",
    "literal_error": "oneof",
    "enum": "oneof",
    "finite_number": "format",
    "value_error": "format",
    "assertion_error": "format",
    **dict.fromkeys(_KINDS, "type"),
}
# Error types pydantic raises itself; anything else is one of our PydanticCustomErrors.
_PYDANTIC_TYPES = frozenset(_TAGS) | {"json_invalid", "extra_forbidden"}


def field_name(err: Mapping[str, Any]) -> str:
    """The JSON name of what failed: `env.A`, `limit`, or `body` for the body as a whole."""
    # A dict key's own error ends with "[key]": the field is the entry itself (env.BAD-NAME).
    skip = ("body", "[key]", *PARAMETER_LOCATIONS)
    loc = [str(p) for p in err.get("loc", ()) if p not in skip]
    return ".".join(loc) or "body"


def message(err: Mapping[str, Any]) -> str:
    """Our text for one error."""
    kind = str(err.get("type", ""))
    field = field_name(err)
    text = str(err.get("msg", ""))
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    if kind not in _PYDANTIC_TYPES:
        return text  # our own validator's finished sentence
    if kind in ("value_error", "assertion_error"):
        return f"{field} {text.removeprefix('Value error, ').removeprefix('Assertion failed, ')}"
    if kind == "missing":
        return f"{field} is required"
    if kind in _KINDS:
        return f"{field} must be {_KINDS[kind]}"
    text_for = _BOUNDS.get(kind)
    return text_for(field, ctx) if text_for else f"{field} is invalid"


def _too_short(field: str, ctx: Mapping[str, Any]) -> str:
    least = ctx.get("min_length", 1)
    return (
        f"{field} must not be empty"
        if least == 1
        else f"{field} must be at least {least} characters"
    )


def _one_of(field: str, ctx: Mapping[str, Any]) -> str:
    # ctx["expected"] reads "'a', 'b' or 'c'"; ours reads "a, b, c" as the tasks service's does.
    expected = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
    return f"{field} must be one of: {expected}"


Text = Callable[[str, Mapping[str, Any]], str]
_BOUNDS: dict[str, Text] = {
    "string_too_short": _too_short,
    "string_too_long": lambda f, c: f"{f} must be at most {c.get('max_length')} characters",
    "too_short": lambda f, c: f"{f} must have at least {c.get('min_length')} items",
    "too_long": lambda f, c: f"{f} must have at most {c.get('max_length')} items",
    "greater_than_equal": lambda f, c: f"{f} must be at least {c.get('ge')}",
    "greater_than": lambda f, c: f"{f} must be greater than {c.get('gt')}",
    "less_than_equal": lambda f, c: f"{f} must be at most {c.get('le')}",
    "less_than": lambda f, c: f"{f} must be less than {c.get('lt')}",
    "literal_error": _one_of,
    "enum": _one_of,
    "finite_number": lambda f, _c: f"{f} must be a finite number",
    "extra_forbidden": lambda f, _c: f"{f} is not a known field",
}


def tag(err: Mapping[str, Any]) -> str:
    """The rule a field broke, in the tag vocabulary of validation_errors."""
    kind = str(err.get("type", ""))
    return _TAGS.get(kind, kind or "invalid")


def validation_items(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Errors as the contract's validation_errors (JSON field names, rule tags, our texts)."""
    items = []
    for err in errors:
        field = field_name(err)
        secret = field.rsplit(".", 1)[-1] in SECRET_FIELDS
        items.append(
            {
                "field": field,
                "value": "" if secret else _as_text(err.get("input")),
                "tag": tag(err),
                "message": message(err),
            }
        )
    return items


def parameter_error(errors: Sequence[Any]) -> str | None:
    """The text for the first bad path parameter, else the first bad query or header one."""
    for location in PARAMETER_LOCATIONS:
        for err in errors:
            loc = tuple(err.get("loc", ()))
            if loc and loc[0] == location:
                return message(err)
    return None


def malformed_body(errors: Sequence[Any]) -> str | None:
    """Why the body is not a JSON object at all (not JSON, an array, nothing), else None."""
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            ctx: Mapping[str, Any] = err.get("ctx") or {}
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            return f"body must be valid JSON: {ctx.get('error', 'cannot be parsed')}{where}"
        if loc == ("body",) and err.get("type") in {
            "model_attributes_type",
            "dict_type",
            "missing",
        }:
            return "body must be a JSON object"
    return None


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    # Lone surrogates (valid JSON escapes, invalid UTF-8) would make the error body unrenderable.
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= 200 else text[:200] + "…"
