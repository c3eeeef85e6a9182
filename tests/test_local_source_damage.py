"""The local DuckDB source skips rows it cannot parse, names them by MIMIC id, and never shows content."""

import gzip

import pytest

from mmnar.data.sources.local import LocalSource, SourceReadError, csv_header

HEADER = "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text"
SQL = "SELECT n.note_id, n.subject_id, n.text FROM `physionet-data.mimiciv_note.discharge` AS n"


def note_rows(n=3000):
    return [f'{i}-DS-1,{1000 + i},{2000 + i},DS,1,2150-01-01 00:00:00,2150-01-01 00:00:00,'
            f'"Confidential narrative {i}\nsecond line, with a comma"' for i in range(n)]


def write_notes(root, data: bytes):
    folder = root / "note" / "note"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "discharge.csv.gz").write_bytes(data)
    return LocalSource(root, note=root / "note")


def as_gzip(rows) -> bytes:
    return gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode())


def test_invalid_utf8_early_and_late_is_skipped_by_note_id(tmp_path):
    raw = gzip.decompress(as_gzip(note_rows()))
    raw = raw.replace(b"narrative 3\n", b"narr\xff\xfeative 3\n").replace(b"narrative 2900\n", b"narrative \xc3 2900\n")
    source = write_notes(tmp_path, gzip.compress(raw))
    notes = source.query(SQL)
    assert len(notes) == 2998 and not {"3-DS-1", "2900-DS-1"} & set(notes["note_id"])
    rejected = [(r.item_id, r.subject_id, r.table) for r in source.rejected_rows]
    assert rejected == [("3-DS-1", 1003, "discharge"), ("2900-DS-1", 3900, "discharge")]
    assert all("encoding" in r.reason for r in source.rejected_rows)


def test_a_mangled_row_is_reported_by_line_never_by_its_text(tmp_path):
    rows = note_rows()
    rows[2500] = rows[2500].rstrip('"')          # unterminated quote: the next line becomes a row of its own
    source = write_notes(tmp_path, as_gzip(rows))
    source.query(SQL)
    ids = [r.item_id for r in source.rejected_rows]
    assert "2500-DS-1" in ids
    assert all("second line" not in i and "Confidential" not in i for i in ids)
    assert any(i.startswith("line ") for i in ids)


def test_unreadable_file_error_names_file_not_content(tmp_path):
    full = as_gzip(note_rows())
    source = write_notes(tmp_path, full[: len(full) // 2])
    with pytest.raises(SourceReadError) as raised:
        source.query(SQL)
    message = str(raised.value)
    assert "discharge.csv.gz" in message and "Confidential" not in message and "\n" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_header_read_survives_invalid_bytes_right_after_it(tmp_path):
    path = tmp_path / "discharge.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n").encode() + b"\xff\xfe" + b"x" * 10000))
    assert csv_header(path) == HEADER.split(",")
