"""How commands print: JSON for scripts (`--json`), aligned columns for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def as_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    """Print a model, a list of them, or a dict as JSON on stdout."""
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json", exclude_none=True)
    elif isinstance(value, dict):
        data = value
    else:
        data = [v.model_dump(mode="json", exclude_none=True) for v in value]
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell."""
    cells = [[str(c) if c is not None else "-" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")


def fields(pairs: Sequence[tuple[str, object]]) -> None:
    """`name: value` lines, skipping unset values."""
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        if value is not None:
            sys.stdout.write(f"{key + ':':<{width + 1}} {value}\n")
