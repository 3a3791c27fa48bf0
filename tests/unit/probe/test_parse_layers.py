"""One ``--layers`` grammar for every command: ``all``, indices, inclusive ranges."""

from __future__ import annotations

import pytest

from probe.errors import FewdimsError
from probe.results import ResultsFile
from probe.vocabulary import parse_layers

pytestmark = pytest.mark.torch_free


@pytest.mark.parametrize(
    ("text", "layers"),
    [
        ("all", ()),
        ("", ()),
        (" ALL ", ()),
        ("0,6,-1", (0, 6, -1)),
        ("4-7", (4, 5, 6, 7)),
        ("0, 2-3 ,-1", (0, 2, 3, -1)),
        ("-3--1", (-3, -2, -1)),
        ("5-5", (5,)),
    ],
)
def test_layers_parse(text, layers):
    assert parse_layers(text) == layers


@pytest.mark.parametrize("text", ["top", "1,,2", "6-4", "2--1", "1-2-3", "1.5"])
def test_bad_layers_name_the_piece_and_the_grammar(text):
    with pytest.raises(FewdimsError, match=r"4-12.*0 = embeddings"):
        parse_layers(text)


def test_probe_command_accepts_a_range(tmp_path):
    """The probe side used to reject ranges that extract accepted."""
    from probe.cli import main
    from tests.data.make_tiny_cache import TINY_DEV, TINY_TRAIN

    out = tmp_path / "r.json"
    argv = ["probe", "--train", str(TINY_TRAIN), "--eval", str(TINY_DEV), "--out", str(out)]
    assert (
        main(
            [
                *argv,
                "--layers",
                "0-1",
                "--methods",
                "full",
                "--pooling",
                "mean",
                "--k",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    results = ResultsFile.load(out)
    assert [(cell.layer, cell.method) for cell in results.cells] == [(0, "full"), (1, "full")]
