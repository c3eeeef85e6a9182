"""Damage of the kinds real downloads have, applied to copies of PhysioNet-layout files (bytes, not pandas:
a rewrite would change every other row's formatting too)."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path


def _row_start(data: bytes, first_field: str) -> int:
    return data.index(b"\n" + first_field.encode() + b",") + 1


def _quoted_text_span(data: bytes, row_start: int) -> tuple[int, int]:
    """(start, end) of the first quoted field of a row, quotes excluded; ``""`` is an escaped quote."""
    start = data.index(b',"', row_start) + 2
    i = start
    while True:
        j = data.index(b'"', i)
        if data[j + 1:j + 2] == b'"':
            i = j + 2
            continue
        return start, j


def edit_gz(path: Path, edit) -> None:
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(edit(data), mtime=0))


def invalid_utf8_in_note(path: Path, note_id: str) -> None:
    """Put bytes that are not UTF-8 inside one note's text."""
    def edit(data: bytes) -> bytes:
        start, _ = _quoted_text_span(data, _row_start(data, note_id))
        return data[:start + 5] + b"\xff\xfe\xc3" + data[start + 5:]
    edit_gz(path, edit)


def blank_note(path: Path, note_id: str) -> None:
    def edit(data: bytes) -> bytes:
        start, end = _quoted_text_span(data, _row_start(data, note_id))
        return data[:start] + b"   \n  " + data[end:]
    edit_gz(path, edit)


def replace_field(path: Path, first_field: str, column: str, value: str) -> None:
    """Set one field of the row whose first field is ``first_field`` (rows without embedded newlines)."""
    def edit(data: bytes) -> bytes:
        header = next(csv.reader([data[:data.index(b"\n")].decode()]))
        start = _row_start(data, first_field)
        end = data.index(b"\n", start)
        fields = next(csv.reader([data[start:end].decode()]))
        fields[header.index(column)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(fields)
        return data[:start] + out.getvalue().encode() + data[end:]
    edit_gz(path, edit)


def first_fields_in_file_order(path: Path, candidates: set[str]) -> list[str]:
    """Which of ``candidates`` (first-field values) appear in the file, in file order."""
    data = gzip.decompress(path.read_bytes())
    found = [(data.find(b"\n" + c.encode() + b","), c) for c in candidates]
    return [c for position, c in sorted(found) if position >= 0]
