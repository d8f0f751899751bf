"""A JSON catalogue file read in bounded memory: its big lists are streamed, not held.

:func:`open_json` reads the file once to check that it is JSON and to find where its
``users`` and ``assignments`` lists start; every other key is parsed and held as usual.
The result is a ``dict`` whose two big sections are :class:`StreamedSection` objects:
sized, and iterable any number of times. The JSON text is parsed once (one item at a
time, with the C JSON decoder): that first pass also spools the items, in batches, to an
anonymous temporary file in ``marshal`` form, which later passes (validation, import)
read back about twenty times faster than they could parse the JSON again. The spool is
written and read only by this process and deleted with the section. A national catalogue
(400,000 users and 2,000,000 assignments, 0.5 GB of JSON, about 0.25 GB of spool) is thus
validated and imported without holding its items.
"""

from __future__ import annotations

import codecs
import json
import marshal
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from store.catalogue.common import CatalogueError, CatalogueInvalid
from store.catalogue.schema import STREAMED_SECTIONS

CHUNK_BYTES = 1 << 20
LOOKAHEAD_CHARS = 1 << 18
_WHITESPACE = " \t\n\r"
_SKIP_WHITESPACE = re.compile(r"[ \t\n\r]*")
SPOOL_BATCH = 1_000


class _Spool:
    """Parsed items in an anonymous temporary file, as ``marshal`` batches (our own data only).

    Written once by the first pass; read by any number of passes at once (``pread``).
    """

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="sts-catalogue-")  # noqa: SIM115 - kept open
        self.batches: list[tuple[int, int]] = []  # (offset, length)
        self.size = 0
        self.pending: list[Any] = []

    def add(self, item: Any) -> None:
        self.pending.append(item)
        if len(self.pending) == SPOOL_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            blob = marshal.dumps(self.pending)
            self.file.write(blob)
            self.batches.append((self.size, len(blob)))
            self.size += len(blob)
            self.pending = []
        self.file.flush()

    def __iter__(self) -> Iterator[Any]:
        descriptor = self.file.fileno()
        for offset, length in self.batches:
            yield from marshal.loads(os.pread(descriptor, length, offset))  # noqa: S302 - ours


class StreamedSection:
    """A top-level list of a JSON file, parsed item by item on every iteration."""

    def __init__(self, path: Path, offset: int, count: int, spool: _Spool | None = None) -> None:
        self.path = path
        self.offset = offset  # byte offset of the list's ``[``
        self.count = count
        self.spool = spool  # the items already parsed, when the first pass kept them

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[Any]:
        if self.spool is not None:
            yield from self.spool
            return
        with self.path.open("rb") as file:
            file.seek(self.offset)
            reader = _Reader(file, str(self.path), self.offset)
            yield from reader.items()

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.count:
            raise IndexError(index)
        for position, item in enumerate(self):
            if position == index:
                return item
        raise IndexError(index)  # pragma: no cover - count is exact

    def __repr__(self) -> str:
        return f"StreamedSection({self.path.name!r}, {self.count} items)"


class _Reader:
    """Incremental JSON reading over a binary file: a text window and its byte position."""

    def __init__(self, file: BinaryIO, source: str, start: int = 0) -> None:
        self.file = file
        self.source = source
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.json = json.JSONDecoder()
        self.buffer = ""
        self.position = 0
        self.base = start  # byte offset of buffer[0]
        self.eof = False

    def fill(self, wanted: int = LOOKAHEAD_CHARS) -> None:
        """Make at least ``wanted`` characters available after ``position`` (unless at EOF)."""
        if len(self.buffer) - self.position >= wanted or self.eof:
            return
        consumed = self.buffer[: self.position]
        self.base += len(consumed.encode("utf-8"))
        parts = [self.buffer[self.position :]]
        available = len(parts[0])
        while available < wanted and not self.eof:
            chunk = self.file.read(CHUNK_BYTES)
            text = self.decoder.decode(chunk, final=not chunk)
            if not chunk:
                self.eof = True
            parts.append(text)
            available += len(text)
        self.buffer = "".join(parts)
        self.position = 0

    def byte_offset(self) -> int:
        return self.base + len(self.buffer[: self.position].encode("utf-8"))

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end)."""
        while True:
            self.fill(1)
            while self.position < len(self.buffer) and self.buffer[self.position] in _WHITESPACE:
                self.position += 1
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if self.eof:
                return ""
            self.fill(LOOKAHEAD_CHARS)

    def expect(self, chars: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            self.fail(f"expected {' or '.join(repr(c) for c in chars)}")
        self.position += 1
        return char

    def value(self) -> Any:
        """Decode the JSON value at the current position."""
        self.peek()
        wanted = LOOKAHEAD_CHARS
        while True:
            self.fill(wanted)
            try:
                value, end = self.json.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as exc:
                if self.eof:
                    self.fail(exc.msg)
                wanted = max(wanted, len(self.buffer) - self.position) * 2
                continue
            if end == len(self.buffer) and not self.eof and isinstance(value, int | float):
                wanted = len(self.buffer) - self.position + 1  # a number may go on
                continue
            self.position = end
            return value

    def items(self) -> Iterator[Any]:
        """The items of the list at the current position, then past its ``]``.

        Items that lie whole in the buffer are decoded straight from it; anything else
        (an item longer than the lookahead, the end of the file, an error) goes through
        :meth:`value` and :meth:`expect`, which refill and report.
        """
        self.expect("[")
        if self.peek() == "]":
            self.position += 1
            return
        scan: Any = self.json.scan_once  # type: ignore[attr-defined] # the C scanner
        skip: Any = _SKIP_WHITESPACE.match  # always matches (possibly nothing)
        while True:
            if len(self.buffer) - self.position < LOOKAHEAD_CHARS // 2:
                self.fill()
            buffer = self.buffer
            start = skip(buffer, self.position).end()
            try:
                value, end = scan(buffer, start)
            except (StopIteration, json.JSONDecodeError):
                end = -1
            if end < 0 or (end == len(buffer) and not self.eof):
                value = self.value()
            else:
                self.position = end
            yield value
            after = skip(self.buffer, self.position).end()
            separator = self.buffer[after : after + 1]
            if separator == ",":
                self.position = after + 1
            elif separator == "]":
                self.position = after + 1
                return
            elif self.expect(",]") == "]":
                return

    def fail(self, message: str) -> None:
        raise CatalogueInvalid(
            [
                CatalogueError(
                    "", f"{self.source} is not valid JSON: {message} (byte {self.byte_offset()})"
                )
            ]
        )


def open_json(path: Path) -> dict[str, Any]:
    """The catalogue in JSON file ``path``, its big lists as :class:`StreamedSection`."""
    with path.open("rb") as file:
        reader = _Reader(file, str(path))
        if reader.peek() != "{":
            reader.fail("a catalogue must hold an object with 'version: 1' at the top")
        reader.expect("{")
        data: dict[str, Any] = {}
        if reader.peek() == "}":
            reader.position += 1
        else:
            while True:
                key = reader.value()
                if not isinstance(key, str):
                    reader.fail("expected a key")
                reader.expect(":")
                if key in STREAMED_SECTIONS and reader.peek() == "[":
                    offset = reader.byte_offset()
                    spool = _Spool()
                    count = 0
                    for item in reader.items():
                        spool.add(item)
                        count += 1
                    spool.flush()
                    data[key] = StreamedSection(path, offset, count, spool)
                else:
                    data[key] = reader.value()
                if reader.expect(",}") == "}":
                    break
        if reader.peek():
            reader.fail("extra data after the catalogue")
    return data
