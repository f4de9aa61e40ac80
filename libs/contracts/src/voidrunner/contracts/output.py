"""How a run's output travels and is shown, the same at every hop.

Bytes are the truth: the executor keeps up to the cap of each stream, the tasks service stores
those bytes, and only the edge turns them into text. `text_form` is that one rule: the text is
the bytes decoded as UTF-8 with invalid bytes (and NUL) replaced by U+FFFD, except that an
incomplete character at a cut (a truncated stream) is dropped rather than replaced; whenever
the text is not exactly the bytes, the caller also sends them in base64.

Sizes (fixed bounds, whatever a user asks for):
- a result message carries its output inline up to INLINE_OUTPUT_BYTES; beyond, the output is
  spilled in parts of at most topology.OUTPUT_PART_BYTES to VR_OUTPUT (so no NATS message grows
  with what a program prints);
- MAX_OUTPUT_CAP_BYTES bounds the operator's per-stream cap, which bounds every gRPC message
  that carries an execution (GRPC_MAX_MESSAGE_BYTES).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voidrunner.contracts.execution import StreamName

INLINE_OUTPUT_BYTES = 256 * 1024
MAX_OUTPUT_CAP_BYTES = 64 * 1024 * 1024
MAX_COMPILE_OUTPUT_BYTES = 1024 * 1024
MAX_DETAIL_CHARS = 4096
# Both streams at the largest cap, a compile output and the rest of an Execution message.
GRPC_MAX_MESSAGE_BYTES = 2 * MAX_OUTPUT_CAP_BYTES + MAX_COMPILE_OUTPUT_BYTES + 4 * 1024 * 1024


def complete_prefix(data: bytes) -> int:
    """The length of `data` without a trailing, incomplete UTF-8 character (0 to 3 bytes less).

    Only a tail that could still become a valid character is left out; bytes that can never be
    one are kept (they are invalid wherever the cut falls).
    """
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): does its character fit?
            need = 2 if 0xC2 <= byte <= 0xDF else 3 if 0xE0 <= byte <= 0xEF else 4
            if byte < 0x80 or not 0xC2 <= byte <= 0xF4:
                return len(data)
            return len(data) - back if back < need else len(data)
    return len(data)


def text_form(data: bytes, *, cut: bool = False, nul: bool = False) -> tuple[str, bool]:
    """(text, exact): `data` as text (see the module docstring) and whether it is exactly `data`.

    `cut` says `data` ends where it was cut off (a truncated stream), so an incomplete last
    character is dropped instead of shown as U+FFFD. `nul` keeps NUL as it is (a user's own
    input given back, rather than a program's output).
    """
    end = complete_prefix(data) if cut else len(data)
    try:
        text = data[:end].decode("utf-8")
        exact = end == len(data)
    except UnicodeDecodeError:
        text, exact = data[:end].decode("utf-8", "replace"), False
    if not nul and "\x00" in text:  # valid UTF-8, but many clients cannot hold it
        text, exact = text.replace("\x00", "\ufffd"), False
    return text, exact


def base64_text(data: bytes) -> str:
    """The standard base64 of `data`, as the API sends exact bytes."""
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One event of a log as a replay rebuilds it: a chunk of output, or a case's mark."""

    seq: int
    case_index: int
    stream: StreamName | None = None
    data: bytes = b""
    # For a test case's start or end (the CaseMark message).
    mark: Any = None


def replay_layout(
    spans: Sequence[int], marks: Sequence[Any], streams: Mapping[int, tuple[bytes, bytes]]
) -> list[LogEntry] | None:
    """The events of a log from its recorded layout: `spans` (chunk sizes, stdout positive,
    stderr negative) between `marks` (CaseMark: seq, case_index, end), the bytes taken in order
    from `streams` (case index → (stdout, stderr); 0 outside test cases).

    None when the layout does not account for exactly those bytes (then a replay shows each
    stream whole instead).
    """
    by_seq = {m.seq: m for m in marks}
    offsets = {index: [0, 0] for index in streams}
    entries: list[LogEntry] = []
    current, span = 0, iter(spans)
    for seq in range(1, len(spans) + len(marks) + 1):
        mark = by_seq.get(seq)
        if mark is not None:
            entries.append(LogEntry(seq, mark.case_index, mark=mark))
            current = 0 if mark.end else mark.case_index
            continue
        size = next(span, 0)
        if size == 0 or current not in streams:
            return None
        which = 0 if size > 0 else 1
        start = offsets[current][which]
        offsets[current][which] = start + abs(size)
        data = streams[current][which][start : start + abs(size)]
        if len(data) != abs(size):
            return None
        stream = StreamName.STDOUT if which == 0 else StreamName.STDERR
        entries.append(LogEntry(seq, current, stream, data))
    if any(offsets[i] != [len(o), len(e)] for i, (o, e) in streams.items()):
        return None
    return entries
