"""Bulk scoring's file handling: CSV and JSON Lines read in chunks from byte offsets, headers checked, progress kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churn_api.bulk import CSV_RESULT_COLUMNS, Unreadable, csv_result_values
from churn_local.bulk import resume
from churn_local.bulk.files import CsvReader, FileError, JsonLinesReader, csv_header_bytes, format_of, output_bytes
from churn_local.training import dataset

HEADER = dataset.DATA_PATH.read_bytes().split(b"\r\n", 1)[0].decode()


def test_the_data_sets_own_file_reads_as_5000_rows_in_chunks_ending_at_its_last_byte() -> None:
    # GIVEN data/churn.txt as shipped: CRLF line ends, no final newline, Churn? beside the features
    reader = CsvReader(dataset.DATA_PATH)
    # WHEN it is read in chunks of 1,000
    chunks = list(reader.chunks(reader.data_offset, 0, 1000))
    # THEN every row comes once, numbered from 0, keyed by the header, and the last chunk ends at the file's end
    assert [len(c.rows) for c in chunks] == [1000] * 5
    assert [c.first for c in chunks] == [0, 1000, 2000, 3000, 4000]
    assert chunks[0].records[0]["State"] == "PA" and chunks[0].records[0]["Churn?"] == "True."
    assert chunks[-1].end_offset == dataset.DATA_PATH.stat().st_size


def test_reading_from_a_chunks_end_offset_gives_the_rows_after_it() -> None:
    # GIVEN the offset where the second chunk ends
    reader = CsvReader(dataset.DATA_PATH)
    whole = [row for chunk in reader.chunks(reader.data_offset, 0, 700) for row in chunk.rows]
    second_end = list(reader.chunks(reader.data_offset, 0, 700))[1].end_offset
    # WHEN reading resumes there
    rest = [row for chunk in reader.chunks(second_end, 1400, 700) for row in chunk.rows]
    # THEN the rows are exactly those after the first 1,400
    assert rest == whole[1400:]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("PA,163,806,403-2562\n", "must be a header"),
        ("State,Account Length\nPA,163\n", "has no column"),
        (HEADER + ",State\n", "more than once"),
        (HEADER + ",score\n", "already has score"),
    ],
)
def test_a_csv_without_a_usable_header_is_refused_before_any_row_is_scored(
    tmp_path: Path, text: str, problem: str
) -> None:
    # GIVEN a CSV whose first line cannot be the data set's header
    source = tmp_path / "bad.csv"
    source.write_text(text, encoding="utf-8")
    # WHEN it is opened THEN the user is told what is wrong with it
    with pytest.raises(FileError, match=problem):
        CsvReader(source)


def test_a_byte_order_mark_lf_line_ends_and_a_quoted_comma_are_read_as_spreadsheets_write_them(tmp_path: Path) -> None:
    # GIVEN a file saved by a spreadsheet: BOM, LF, an extra quoted column holding a comma and a newline
    first = dataset.DATA_PATH.read_bytes().split(b"\r\n")[1].decode()
    source = tmp_path / "export.csv"
    source.write_bytes(("\ufeff" + HEADER + ",Note\n" + first + ',"late, twice\nin May"\n').encode("utf-8"))
    # WHEN it is read
    reader = CsvReader(source)
    (chunk,) = reader.chunks(reader.data_offset, 0, 10)
    # THEN the first column is State and the note is one value
    assert reader.header[0] == "State"
    assert chunk.records[0]["Note"] == "late, twice\nin May"


def test_a_short_row_lacks_its_last_columns_and_a_long_one_is_unreadable(tmp_path: Path) -> None:
    # GIVEN one row with five values and one with a value more than the header names
    row = dataset.DATA_PATH.read_bytes().split(b"\r\n")[1].decode()
    source = tmp_path / "ragged.csv"
    source.write_text(f"{HEADER}\n{','.join(row.split(',')[:5])}\n{row},more\n", encoding="utf-8")
    reader = CsvReader(source)
    (chunk,) = reader.chunks(reader.data_offset, 0, 10)
    # THEN the short row is scored without the columns it lacks (the API's rules name them), the long one is not
    assert list(chunk.records[0]) == HEADER.split(",")[:5]
    assert chunk.records[1] == Unreadable("row", "has 22 values, the header names 21 columns")
    # AND the output keeps every row as wide as the header, the results in their own columns
    items = [
        {
            "index": 0,
            "churn": None,
            "label": None,
            "score": None,
            "error": {"code": "VALIDATION_ERROR", "message": "m"},
        },
        {"index": 1, "churn": True, "label": "True", "score": 0.5, "error": None},
    ]
    lines = output_bytes("csv", reader.header, chunk, items).decode().split("\r\n")
    width = len(HEADER.split(",")) + len(CSV_RESULT_COLUMNS)
    assert [len(line.split(",")) for line in lines[:2]] == [width, width]
    assert lines[1].endswith(",0.5,True,true,,,,,")  # no model named in these items
    assert (
        csv_header_bytes(reader.header)
        .decode()
        .endswith(",score,label,churn,error_code,error_message,error_details,model_version,model_threshold\r\n")
    )


def test_json_lines_skip_blank_lines_and_answer_a_broken_one_with_its_problem(tmp_path: Path) -> None:
    # GIVEN objects, a blank line, a broken line and bytes that are not UTF-8
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b'{"State": "KS"}\n\n{"State": \n\xff\xfe\n[1, 2]')
    (chunk,) = JsonLinesReader(source).chunks(0, 0, 10)
    # THEN four rows, each either its value or what is wrong with its line
    assert chunk.records == [
        {"State": "KS"},
        Unreadable("line", "is not valid JSON"),
        Unreadable("line", "is not UTF-8 text"),
        [1, 2],
    ]
    assert chunk.end_offset == source.stat().st_size
    # AND the output holds each answer and the row as read
    items = [{"index": i, "churn": None, "label": None, "score": None, "error": {"code": "X"}} for i in range(4)]
    out = [json.loads(line) for line in output_bytes("jsonl", (), chunk, items).splitlines()]
    assert [o["row"] for o in out] == [{"State": "KS"}, '{"State": ', "\ufffd\ufffd", [1, 2]]


def test_the_format_comes_from_the_suffix_unless_declared() -> None:
    assert format_of(Path("a.CSV")) == "csv"
    assert format_of(Path("data/churn.txt")) == "csv"
    assert format_of(Path("a.ndjson")) == "jsonl"
    assert format_of(Path("a.dat"), "jsonl") == "jsonl"
    with pytest.raises(FileError, match="--format"):
        format_of(Path("a.dat"))


def test_a_scored_items_csv_values_spell_the_score_exactly_and_an_error_as_json_details() -> None:
    model = {"version": "3f2a9c1e5b7d4a60", "threshold": 0.39}
    assert csv_result_values({"churn": False, "label": "False", "score": 0.1 + 0.2, "error": None, "model": model}) == [
        "0.30000000000000004", "False", "false", "", "", "", "3f2a9c1e5b7d4a60", "0.39",
    ]  # fmt: skip
    error = {"code": "VALIDATION_ERROR", "message": "m", "details": [{"field": "State", "problem": "p", "index": 3}]}
    assert csv_result_values({"churn": None, "label": None, "score": None, "error": error, "model": model})[3:] == [
        "VALIDATION_ERROR", "m", '[{"field":"State","problem":"p","index":3}]', "3f2a9c1e5b7d4a60", "0.39",
    ]  # fmt: skip


def test_an_output_is_continued_only_from_the_input_it_was_started_on(tmp_path: Path) -> None:
    # GIVEN an output with its progress, started from one input
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(HEADER + "\n", encoding="utf-8")
    output.write_bytes(b"header\r\n")
    resume.save(output, resume.Progress(resume.InputIdentity.of(source), "csv", output_offset=8))
    # THEN the same input continues it
    assert resume.start(output, source, "csv", restart=False) is not None
    # AND a changed input, a truncated output or an output without progress is refused unless restarted
    source.write_text(HEADER + "\nmore\n", encoding="utf-8")
    with pytest.raises(resume.ResumeError, match="another input"):
        resume.start(output, source, "csv", restart=False)
    assert resume.start(output, source, "csv", restart=True) is None
    resume.save(output, resume.Progress(resume.InputIdentity.of(source), "csv", output_offset=99))
    with pytest.raises(resume.ResumeError, match="shorter"):
        resume.start(output, source, "csv", restart=False)
    resume.progress_path(output).unlink()
    with pytest.raises(resume.ResumeError, match="no run of this tool"):
        resume.start(output, source, "csv", restart=False)
