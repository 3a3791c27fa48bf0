"""GLUE readers against fixture files written here in the exact GLUE TSV layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from extract.datasets import load_local_file, load_split, read_glue_tsv
from probe.errors import DataError
from probe.tasks import UnknownTaskError, canonical_split, get_task

BOM = "\ufeff"

# Each fixture: (folder, file, text). Lines mimic the real files' quirks.
FIXTURES = {
    ("CoLA", "train.tsv"): (
        "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
        "gj04\t0\t*\tOne more pseudo generalization and I'm giving up.\n"
        'cj99\t1\t\tHe said "hi.\n'
    ),
    ("CoLA", "test.tsv"): "index\tsentence\n0\tBill whistled past the house.\n1\tThe car honked.\n",
    (
        "SST-2",
        "dev.tsv",
    ): "sentence\tlabel\nit 's a charming and often affecting journey . \t1\nunflinchingly bleak \t0\n",
    ("SST-2", "test.tsv"): "index\tsentence\n0\tuneasy mishmash of styles \n",
    ("MRPC", "train.tsv"): (
        BOM + "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        '1\t702876\t702977\tAmrozi accused his brother , whom he called " the witness " .\tReferring to him as only " the witness " , Amrozi accused his brother .\n'
        "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's in 1995 .\n"
    ),
    ("MRPC", "test.tsv"): BOM + "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tA b.\tC d.\n",
    ("QQP", "dev.tsv"): (
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "201359\t303345\t303346\tWhy are African-Americans so beautiful?\tWhy are hispanics so beautiful?\t0\n"
    ),
    ("STS-B", "dev.tsv"): (
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
        "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man with a hard hat is dancing.\tA man wearing a hard hat is dancing.\t5.000\n"
        "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA young child is riding a horse.\tA child is riding a horse.\t4.750\n"
    ),
    ("STS-B", "test.tsv"): (
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
        "0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone\tA girl is styling her hair.\tA girl is brushing her hair.\n"
    ),
    ("MNLI", "dev_matched.tsv"): (
        "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
        "0\t63735\t63735n\tslate\t( x )\t( y )\t(ROOT x)\t(ROOT y)\tThe new rights are nice enough\tEveryone really likes the newest benefits \tneutral\tentailment\tneutral\tneutral\tneutral\tneutral\n"
        "1\t91383\t91383c\tgovernment\t( x )\t( y )\t(ROOT x)\t(ROOT y)\tThis site includes a list\tThe Government Executive articles housed on the website are not able to be searched .\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\n"
    ),
    ("QNLI", "dev.tsv"): (
        "index\tquestion\tsentence\tlabel\n"
        "0\tWhat came into force after the new constitution was herald?\tAs of that day, the new constitution heralding the Second Republic came into force.\tentailment\n"
        '1\tWhat is the first major city in the stream of the Rhine?\t"The most important tributaries in this area are the Ill below of Strasbourg\tnot_entailment\n'
    ),
    ("RTE", "train.tsv"): (
        "index\tsentence1\tsentence2\tlabel\n"
        "0\tNo Weapons of Mass Destruction Found in Iraq Yet.\tWeapons of Mass Destruction Found in Iraq.\tnot_entailment\n"
        "1\tA place of sorrow, after Pope John Paul II died, became a place of celebration.\tPope Benedict XVI is the new leader of the Roman Catholic Church.\tentailment\n"
    ),
    (
        "RTE",
        "test.tsv",
    ): "index\tsentence1\tsentence2\n0\tMaude and Dora had seen the trains.\tDora had seen trains.\n",
    ("WNLI", "dev.tsv"): (
        "index\tsentence1\tsentence2\tlabel\n"
        "0\tThe drain is clogged with hair. It has to be cleaned.\tThe hair has to be cleaned.\t0\n"
        "1\tJane knocked on Susan's door but she did not answer.\tSusan did not answer.\t1\n"
    ),
}


@pytest.fixture()
def glue_root(tmp_path: Path) -> Path:
    for (folder, name), text in FIXTURES.items():
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_cola_has_no_header_and_keeps_quotes(glue_root):
    split = load_split("cola", "train", glue_root)
    assert len(split) == 3
    assert split.labels.tolist() == [1, 0, 1]
    assert split.texts[2] == ('He said "hi.',)
    assert split.label_names == ["unacceptable", "acceptable"]


def test_unlabeled_test_splits(glue_root):
    for task, expected in [("cola", 2), ("sst2", 1), ("mrpc", 1), ("stsb", 1), ("rte", 1)]:
        split = load_split(task, "test", glue_root)
        assert not split.labeled and split.labels is None and len(split) == expected, task


def test_sst2_keeps_trailing_space(glue_root):
    split = load_split("sst2", "validation", glue_root)
    assert split.split == "dev"
    assert split.texts[0] == ("it 's a charming and often affecting journey . ",)
    assert split.labels.dtype == np.int64 and split.labels.tolist() == [1, 0]


def test_mrpc_bom_header_and_pairs(glue_root):
    split = load_split("mrpc", "train", glue_root)
    assert split.labels.tolist() == [1, 0]
    assert split.texts[0][1].startswith('Referring to him as only "')
    assert split.text_columns == ["sentence1", "sentence2"]


def test_string_labels(glue_root):
    assert load_split("rte", "train", glue_root).labels.tolist() == [1, 0]
    assert load_split("qnli", "dev", glue_root).labels.tolist() == [0, 1]
    mnli = load_split("mnli", "dev", glue_root)
    assert mnli.split == "dev_matched" and mnli.labels.tolist() == [1, 2]
    assert load_split("qnli", "dev", glue_root).texts[1][1].startswith('"The most important')


def test_regression_and_other_tasks(glue_root):
    stsb = load_split("sts-b", "dev", glue_root)
    assert stsb.is_regression and stsb.labels.dtype == np.float32
    np.testing.assert_allclose(stsb.labels, [5.0, 4.75])
    assert load_split("qqp", "dev", glue_root).labels.tolist() == [0]
    assert load_split("wnli", "dev", glue_root).labels.tolist() == [0, 1]


def test_fingerprint_changes_with_content(glue_root):
    first = load_split("wnli", "dev", glue_root)
    again = load_split("wnli", "dev", glue_root)
    assert first.fingerprint() == again.fingerprint()
    path = glue_root / "WNLI" / "dev.tsv"
    path.write_text(path.read_text().replace("\t1\n", "\t0\n"))
    assert load_split("wnli", "dev", glue_root).fingerprint() != first.fingerprint()


def test_errors_name_problem_and_fix(glue_root, tmp_path):
    with pytest.raises(UnknownTaskError, match=r"Unknown task 'sst3'.*cola.*--data-file"):
        get_task("sst3")
    with pytest.raises(DataError, match=r"has no split 'test_other'"):
        canonical_split(get_task("sst2"), "test_other")
    with pytest.raises(DataError, match=r"no local file .*SST-2/train.tsv.*--data-dir"):
        load_split("sst2", "train", glue_root, allow_hub=False)
    bad = glue_root / "WNLI" / "train.tsv"
    bad.write_text("index\tsentence1\tsentence2\tlabel\n0\tonly two fields\n")
    with pytest.raises(DataError, match=r"line 2: 2 fields where the header has 4"):
        load_split("wnli", "train", glue_root)
    bad.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(DataError, match=r"label 'maybe', which is not one of"):
        load_split("wnli", "train", glue_root)
    bad.write_bytes(b"index\tsentence1\tsentence2\tlabel\n0\tcaf\xe9\tb\t1\n")
    with pytest.raises(DataError, match=r"not valid UTF-8.*iconv"):
        load_split("wnli", "train", glue_root)
    bad.write_text("index\tsentence1\tsentence2\tlabel\n")
    with pytest.raises(DataError, match="no examples"):
        load_split("wnli", "train", glue_root)
    (glue_root / "STS-B" / "train.tsv").write_text("index\tsentence1\tsentence2\n0\ta\tb\n")
    with pytest.raises(DataError, match="should have a 'score' column"):
        load_split("stsb", "train", glue_root)


def test_hub_fallback_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(
        DataError, match=r"data directory .*nowhere does not exist.*hub failed.*FEWDIMS_DATA"
    ):
        load_split("sst2", "dev", tmp_path / "nowhere")


def test_data_dir_from_environment(glue_root, monkeypatch):
    monkeypatch.setenv("FEWDIMS_DATA", str(glue_root))
    assert len(load_split("wnli", "dev")) == 2


def test_read_glue_tsv_directly(glue_root):
    split = read_glue_tsv(glue_root / "RTE" / "train.tsv", get_task("rte"), "train")
    assert split.source.endswith("RTE/train.tsv")
    assert split.row_index.tolist() == [0, 1]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_local_files(tmp_path, suffix):
    rows = [
        {"text": "a fine film", "other": "x", "y": "pos"},
        {"text": 'a "bad" one', "other": "y", "y": "neg"},
    ]
    path = tmp_path / f"mine{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif suffix == ".tsv":
        lines = ["\t".join(rows[0])] + ["\t".join(row.values()) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        import csv

        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    split = load_local_file(path, ["text"], "y")
    assert split.texts == [("a fine film",), ('a "bad" one',)]
    assert split.label_names == ["neg", "pos"] and split.labels.tolist() == [1, 0]
    with pytest.raises(
        DataError, match=r"column\(s\) \['missing'\] not found; the file has columns"
    ):
        load_local_file(path, ["missing"], "y")
    unlabeled = load_local_file(path, ["text", "other"], None)
    assert not unlabeled.labeled and unlabeled.texts[0] == ("a fine film", "x")


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "ok", "y": "a"}\n\n{"text": broken}\n')
    with pytest.raises(DataError, match=r"line 3 is not valid JSON"):
        load_local_file(path, ["text"], "y")


def test_data_format_names_the_reader_whatever_the_extension(tmp_path):
    from probe.vocabulary import DATA_FORMATS, resolve_data_format

    assert DATA_FORMATS == ("auto", "csv", "tsv", "jsonl", "parquet", "conllu")
    assert resolve_data_format("a.TSV") == "tsv" and resolve_data_format("b.json") == "jsonl"
    assert resolve_data_format("en_ewt-ud-dev.conll") == "conllu"
    assert resolve_data_format("tb.txt", "conllu") == "conllu"
    with pytest.raises(DataError, match=r"unsupported file type '\.dat'.*--data-format"):
        resolve_data_format("rows.dat")
    path = tmp_path / "rows.dat"
    path.write_text("text\ty\na fine film\tpos\nbad\tneg\n")
    split = load_local_file(path, ["text"], "y", data_format="tsv")
    assert split.texts == [("a fine film",), ("bad",)] and split.labels.tolist() == [1, 0]
    as_csv = load_local_file(path, ["text\ty"], None, data_format="csv")  # one column, read as is
    assert as_csv.texts == [("a fine film\tpos",), ("bad\tneg",)]
    with pytest.raises(DataError, match=r"rows\.dat is read as CoNLL-U"):
        load_local_file(path, ["text"], "y", data_format="conllu")


def test_a_delimited_row_of_another_width_names_file_and_line(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("text\ty\n\nfine\tpos\nno label\n")  # blank line 2 skipped
    with pytest.raises(DataError, match=r"rows\.tsv:4: 1 fields where the header \(line 1\) has 2"):
        load_local_file(path, ["text"], "y")
    path.write_text("text\ty\nfine\tpos\textra\n")
    with pytest.raises(DataError, match=r"rows\.tsv:2: 3 fields"):
        load_local_file(path, ["text"], "y")
