"""Bad-input rows of ``fewdims extract``: the data (GLUE tasks, data files, columns, encodings).

Two rows are valid-but-unusual data that must work: extra columns, very long rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.cache import Cache
from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
    extract,
    offline,
    write,
)

# A two-line sentence: comments, then 10-column word lines.
CONLLU_SENTENCE = (
    "# sent_id = 1\n# text = good film\n"
    "1\tgood\tgood\tADJ\tJJ\t_\t2\tamod\t_\t_\n"
    "2\tfilm\tfilm\tNOUN\tNN\t_\t0\troot\t_\t_\n\n"
)


def glue_extract(ws: Workspace, tmp: Path, data_dir: Path) -> list[str]:
    """``extract`` of GLUE SST-2 read from ``data_dir`` (the GLUE-layout cases)."""
    source = ["--task", "sst2", "--data-dir", str(data_dir)]
    return ["extract", "--model", str(ws.model), *source, "--out", str(tmp / "out.h5")]


def long_rows_check(ws: Workspace, tmp: Path) -> None:
    with Cache.open(tmp / "out.h5") as cache:
        assert cache.meta.n_truncated == 2 and cache.lengths.max() == 16


def extra_columns_check(ws: Workspace, tmp: Path) -> None:
    with Cache.open(tmp / "out.h5") as cache:
        assert sorted(cache.texts()) == [("a bad film",), ("the movie was good",)]


def glue_dir_with_broken_row(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp, "glue/SST-2/dev.tsv", "sentence\tlabel\ngood film\t1\nno label here\n")


def glue_dir_without_labels(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp, "glue/SST-2/dev.tsv", "sentence\ngood film\n")


CASES: list[Case] = [
    Case(
        "unknown task",
        lambda ws, t: [
            "extract",
            "--model",
            str(ws.model),
            "--task",
            "sst3",
            "--out",
            str(t / "out.h5"),
        ],
        stderr=(r"sst3", r"sst2"),
    ),
    Case(
        "missing data dir",
        lambda ws, t: glue_extract(ws, t, t / "nowhere"),
        stderr=(r"data directory .*nowhere does not exist", r"--data-dir|FEWDIMS_DATA"),
        setup=offline,
    ),
    Case(
        "GLUE row with too few fields",
        lambda ws, t: glue_extract(ws, t, t / "glue"),
        stderr=(r"dev.tsv, line 3: 1 fields where the header has 2", r"malformed"),
        setup=glue_dir_with_broken_row,
    ),
    Case(
        "GLUE dev without label column",
        lambda ws, t: glue_extract(ws, t, t / "glue"),
        stderr=(r"should have a 'label' column",),
        setup=glue_dir_without_labels,
    ),
    Case(
        "missing data file",
        lambda ws, t: extract(ws, t, data=t / "absent.tsv"),
        stderr=(r"absent.tsv does not exist", r"--data-file"),
    ),
    Case(
        "missing text column",
        lambda ws, t: [*extract(ws, t), "--text-columns", "sentence"],
        stderr=(r"column\(s\) \['sentence'\] not found", r"--text-columns"),
    ),
    Case(
        "missing label column",
        lambda ws, t: [*extract(ws, t), "--label-column", "gold"],
        stderr=(r"\['gold'\] not found", r"--label-column"),
    ),
    Case(
        "three text columns",
        lambda ws, t: [*extract(ws, t), "--text-columns", "a,b,c"],
        stderr=(r"one column name, or two for sentence pairs",),
    ),
    Case(
        "data file without --text-columns",
        lambda ws, t: [
            "extract",
            "--model",
            str(ws.model),
            "--data-file",
            str(ws.rows),
            "--out",
            str(t / "out.h5"),
        ],
        stderr=(r"--data-file needs --text-columns",),
    ),
    Case(
        "neither task nor data file",
        lambda ws, t: ["extract", "--out", str(t / "out.h5")],
        stderr=(r"Pass --task .* or --data-file",),
    ),
    Case(
        "empty split (header only)",
        lambda ws, t: extract(ws, t, data=write(t, "empty.tsv", "text\tlabel\n")),
        stderr=(r"holds no rows", r"empty"),
    ),
    Case(
        "non-UTF-8 text",
        lambda ws, t: extract(
            ws, t, data=write(t, "latin.tsv", "text\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
        ),
        stderr=(r"not valid UTF-8", r"re-encode"),
    ),
    Case(
        "invalid JSONL",
        lambda ws, t: extract(
            ws, t, data=write(t, "rows.jsonl", '{"text": "ok", "label": 1}\n{oops\n')
        ),
        stderr=(r"rows.jsonl: line 2 is not valid JSON",),
    ),
    Case(
        "unsupported file type",
        lambda ws, t: extract(ws, t, data=write(t, "rows.xlsx", "x")),
        stderr=(r"unsupported file type '.xlsx'", r"\.csv, \.tsv, \.jsonl or \.parquet"),
    ),
    Case(
        "--data-format conllu on a TSV names file:line",
        lambda ws, t: extract(ws, t, "--data-format", "conllu"),
        stderr=(r"rows\.tsv:1: expected 10 tab-separated columns, found 2", r"CoNLL-U"),
    ),
    Case(
        "--data-format tsv on a CoNLL-U file names file:line",
        lambda ws, t: extract(
            ws, t, "--data-format", "tsv", data=write(t, "tb.conllu", CONLLU_SENTENCE)
        ),
        stderr=(r"tb\.conllu:3: 10 fields where the header \(line 1\) has 1", r"--data-format"),
    ),
    Case(
        "--data-format parquet on a TSV",
        lambda ws, t: extract(ws, t, "--data-format", "parquet"),
        stderr=(r"rows\.tsv cannot be read as Parquet", r"--data-format"),
    ),
    Case(
        "--data-format without --data-file",
        lambda ws, t: [*glue_extract(ws, t, t / "glue"), "--data-format", "csv"],
        stderr=(r"--data-format csv says how to read --data-file",),
    ),
    Case(
        "a CSV row with a missing field names file:line",
        lambda ws, t: extract(ws, t, data=write(t, "rows.csv", "text,label\nfine,1\nbroken\n")),
        stderr=(r"rows\.csv:3: 1 fields where the header \(line 1\) has 2",),
    ),
    Case(
        "regression label not a number",
        lambda ws, t: extract(
            ws, t, "--regression", data=write(t, "s.tsv", "text\tlabel\nok\thigh\n")
        ),
        stderr=(r"holds a non-number",),
    ),
    Case(
        "extra columns are ignored",
        lambda ws, t: extract(
            ws,
            t,
            data=write(
                t, "wide.csv", "id,text,label,notes\n1,the movie was good,1,x\n2,a bad film,0,y\n"
            ),
        ),
        code=0,
        check=extra_columns_check,
    ),
    Case(
        "sequences far beyond max length are truncated and counted",
        lambda ws, t: extract(
            ws,
            t,
            "--max-length",
            "16",
            data=write(
                t,
                "long.tsv",
                "text\tlabel\n" + "good " * 3000 + "\t1\nfine\t0\n" + "bad " * 500 + "\t0\n",
            ),
        ),
        code=0,
        check=long_rows_check,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
