"""Safety: no pickle in any fewdims format, no remote code unless asked, writes only where told.

The grep tests read the source tree (``probe/``, ``extract/``), so a new module that loads a
pickle or a full torch checkpoint fails here before it ships.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py

from probe.cli import main
from tests.unit.helpers import extract_cli_args, synthetic_split

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path for package in ("probe", "extract") for path in (REPO / package).rglob("*.py")
)


def code_lines(path: Path) -> list[tuple[int, str]]:
    """Source lines without comments and docstring-ish prose (lines inside triple quotes)."""
    lines, in_string = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if not in_string and quotes != 1:
            stripped = line.split("#", 1)[0] if quotes == 0 else ""
            if stripped.strip():
                lines.append((number, stripped))
        if quotes % 2 == 1:
            in_string = not in_string
    return lines


def grep(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in code_lines(path)
        if regex.search(line)
    ]


def test_sources_found():
    assert any(path.name == "cache.py" for path in SOURCES) and len(SOURCES) > 20


def test_no_pickle_anywhere_in_the_formats():
    assert grep(r"\bimport pickle\b|\bpickle\.|\bcloudpickle\b|\bdill\b") == []
    assert grep(r"allow_pickle\s*=\s*True") == []
    assert grep(r"joblib\.(dump|load)\b") == []
    assert grep(r"\bnp\.load\(") == [], "np.load needs allow_pickle=False spelled out"


def test_torch_checkpoints_are_loaded_with_weights_only():
    loads = grep(r"torch\.load\(")
    unsafe = [line for line in loads if "weights_only=True" not in line]
    assert unsafe == [], f"torch.load without weights_only=True: {unsafe}"


def test_no_torch_save_files():
    """torch.save writes a pickle inside a zip; weights and checkpoints use safetensors."""
    assert grep(r"torch\.save\(") == []


def test_remote_code_is_off_unless_the_user_passes_the_flag(tiny_model_dir, monkeypatch):
    assert grep(r"trust_remote_code\s*=\s*True") == []
    for line in grep(r"from_pretrained\("):
        assert "trust_remote_code=" in line or "save_pretrained" in line, line

    from transformers import AutoModel, AutoTokenizer

    from extract.model import load_model

    seen: list[bool] = []
    for auto in (AutoModel, AutoTokenizer):
        original = auto.from_pretrained.__func__

        def spy(cls, *args, _original=original, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", classmethod(spy))
    load_model(str(tiny_model_dir))
    assert seen == [False, False]
    from probe.cli import build_parser

    for command in ("extract", "finetune"):
        args = build_parser().parse_args([command, "--out", "x"])
        assert args.trust_remote_code is False


def snapshot(folder: Path) -> dict[str, int]:
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_writes_only_under_the_paths_the_user_names(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """cwd, HOME and the data folder stay untouched; --out's folder gets the cache only."""
    home, work, data_dir, dest = (tmp_path / name for name in ("home", "work", "data", "dest"))
    for folder in (home, work, data_dir):
        folder.mkdir()
    data = data_dir / "rows.tsv"
    split = synthetic_split(30, seed=5)
    data.write_text(
        "text\tlabel\n"
        + "".join(f"{t[0]}\t{y}\n" for t, y in zip(split.texts, split.labels, strict=True))
    )
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    model_before, data_before = snapshot(tiny_model_dir), snapshot(data_dir)
    common = [
        *extract_cli_args(tiny_model_dir, data),
    ]
    out = dest / "cache.h5"
    assert main([*common, "--out", str(out)]) == 0
    for index in range(2):
        assert main([*common, "--out", str(dest / "sharded.h5"), "--shard", f"{index}/2"]) == 0
    assert main(["verify", str(out), str(dest / "sharded.h5")]) == 0
    assert main(["info", str(out)]) == 0
    capsys.readouterr()
    assert sorted(snapshot(dest)) == [
        "cache.h5",
        "sharded.h5",
        "sharded.shard-0-of-2.h5",
        "sharded.shard-1-of-2.h5",
    ]
    assert snapshot(work) == {} and snapshot(home) == {}
    assert snapshot(data_dir) == data_before and snapshot(tiny_model_dir) == model_before


def test_caches_hold_no_objects_but_text(tiny_model_dir, tmp_path):
    from extract.extractor import ExtractConfig, extract_split

    out = tmp_path / "c.h5"
    extract_split(synthetic_split(6), out, ExtractConfig(model=str(tiny_model_dir), device="cpu"))
    kinds = {}
    with h5py.File(out, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                kinds.__setitem__(name, obj.dtype) if isinstance(obj, h5py.Dataset) else None
            )
        )
    objects = {name for name, dtype in kinds.items() if dtype.kind == "O"}
    assert objects == {"examples/text"}
    assert h5py.check_string_dtype(kinds["examples/text"]) is not None
