"""probe.cache's in-place writer: HDF5's own Fletcher-32, fixed chunk addresses, resumable tails."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from probe.cache import (
    Cache,
    CacheMeta,
    InPlaceWriter,
    create_in_place,
    finish_in_place,
    fletcher32,
    read_part_record,
    streamed_datasets,
    write_part_record,
)
from probe.errors import CacheError
from probe.vocabulary import ENCODER_POOLINGS as POOLINGS


@pytest.mark.parametrize("n_bytes", [0, 1, 2, 3, 511, 1024, 1025, 720, 98304, 131070, 196608])
@pytest.mark.parametrize("fill", ["random", "ones", "zeros"])
def test_fletcher32_equals_hdf5_trailer(n_bytes, fill):
    rng = np.random.default_rng(n_bytes)
    values = {
        "random": rng.integers(0, 256, n_bytes, dtype=np.uint8),
        "ones": np.full(n_bytes, 255, dtype=np.uint8),  # sums that are multiples of 65535
        "zeros": np.zeros(n_bytes, dtype=np.uint8),
    }[fill]
    if n_bytes == 0:
        assert fletcher32(values) == 0
        return
    with h5py.File("fletcher.h5", "w", driver="core", backing_store=False) as handle:
        dataset = handle.create_dataset("x", data=values, chunks=(n_bytes,), fletcher32=True)
        _, stored = dataset.id.read_direct_chunk((0,))
    assert stored[-4:] == fletcher32(values).to_bytes(4, "little")


def toy(n_examples: int = 1500, n_layers: int = 3, hidden: int = 8, seed: int = 1):
    """A meta, the fixed arrays and random streamed arrays of a toy cache."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9, n_examples)
    n_tokens = int(lengths.sum())
    meta = CacheMeta(
        model="toy",
        weights_sha256="0" * 64,
        tokenizer="toy",
        max_length=9,
        dtype="float16",
        compute_dtype="float32",
        n_model_layers=n_layers - 1,
        layers=list(range(n_layers)),
        hidden_size=hidden,
        task="toy",
        split="dev",
        text_columns=["text"],
        label_column="label",
        label_names=["a", "b"],
        is_regression=False,
        labeled=True,
        source="toy.tsv",
        source_sha256="0" * 64,
        n_examples=n_examples,
        n_tokens=n_tokens,
        fingerprint="toy",
    )
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    fixed = {
        "tokens/input_ids": rng.integers(0, 100, n_tokens).astype(np.int32),
        "tokens/token_type_ids": np.zeros(n_tokens, np.int8),
        "tokens/special": rng.random(n_tokens) < 0.2,
        "examples/offsets": offsets,
        "examples/row_index": rng.permutation(n_examples).astype(np.int64),
        "examples/label": rng.integers(0, 2, n_examples).astype(np.int64),
        "examples/truncated": np.zeros(n_examples, bool),
        "examples/text": np.array([[f"text {i}"] for i in range(n_examples)], dtype=object),
    }
    streamed = {
        "hidden": rng.standard_normal((n_layers, n_tokens, hidden)).astype(np.float16),
        **{
            f"pooled/{name}": rng.standard_normal((n_layers, n_examples, hidden)).astype(np.float16)
            for name in POOLINGS
        },
        "pooled/maxnorm_position": rng.integers(0, 9, (n_layers, n_examples)).astype(np.int32),
    }
    return meta, fixed, streamed


def write_examples(writer: InPlaceWriter, streamed, offsets, start: int, stop: int) -> None:
    tokens = slice(int(offsets[start]), int(offsets[stop]))
    writer.write_batch(
        hidden=streamed["hidden"][:, tokens],
        pooled={name: streamed[f"pooled/{name}"][:, start:stop] for name in POOLINGS},
        maxnorm_position=streamed["pooled/maxnorm_position"][:, start:stop],
    )


def test_batches_checkpoints_and_resumes_round_trip(tmp_path):
    meta, fixed, streamed = toy()
    offsets = fixed["examples/offsets"]
    tmp, out = tmp_path / "c.h5.tmp", tmp_path / "c.h5"
    create_in_place(tmp, meta, fixed)
    writer = InPlaceWriter(tmp, meta)
    rng = np.random.default_rng(2)
    start = 0
    while start < meta.n_examples:
        stop = min(meta.n_examples, start + int(rng.integers(1, 300)))
        write_examples(writer, streamed, offsets, start, stop)
        start = stop
        if rng.random() < 0.4:  # a part ends: checkpoint, record, and resume in a new writer
            write_part_record(tmp_path / "part-00000.h5", writer.checkpoint())
            writer.close()
            writer = InPlaceWriter(tmp, meta, read_part_record(tmp_path / "part-00000.h5"))
    writer.checkpoint()
    writer.close()
    finish_in_place(tmp, out, meta)
    assert not tmp.exists()
    with Cache.open(out) as cache:
        assert cache.meta.complete
        for name, values in {**fixed, **streamed}.items():
            stored = cache.read(name)
            if name == "examples/text":
                stored = np.vectorize(lambda cell: cell.decode())(stored)
            np.testing.assert_array_equal(stored, values, err_msg=name)


def hdf5_structure_bytes(path: Path, meta: CacheMeta) -> bytes:
    """The file's bytes outside the streamed datasets' chunk payloads (HDF5's metadata etc.)."""
    raw = bytearray(path.read_bytes())
    with h5py.File(path, "r") as handle:
        for name in streamed_datasets(meta):
            dataset = handle[name]
            for index in range(dataset.id.get_num_chunks()):
                info = dataset.id.get_chunk_info(index)
                raw[info.byte_offset : info.byte_offset + info.size] = bytes(info.size)
    return bytes(raw)


def test_writes_touch_only_chunk_payloads(tmp_path):
    """After the layout, no byte of HDF5 structure changes: a kill can only tear payloads."""
    meta, fixed, streamed = toy(n_examples=300)
    tmp = tmp_path / "c.h5.tmp"
    create_in_place(tmp, meta, fixed)
    before = hdf5_structure_bytes(tmp, meta)
    writer = InPlaceWriter(tmp, meta)
    write_examples(writer, streamed, fixed["examples/offsets"], 0, 200)
    writer.checkpoint()
    write_examples(writer, streamed, fixed["examples/offsets"], 200, 300)
    writer.close()
    assert hdf5_structure_bytes(tmp, meta) == before


def test_a_damaged_tail_refuses_to_resume(tmp_path):
    meta, fixed, streamed = toy(n_examples=300)
    tmp = tmp_path / "c.h5.tmp"
    create_in_place(tmp, meta, fixed)
    writer = InPlaceWriter(tmp, meta)
    write_examples(writer, streamed, fixed["examples/offsets"], 0, 100)  # tails in every chunk
    state = writer.checkpoint()
    writer.close()
    tail_start = state["hidden"][0] // 256 * 256  # the chunk the next part goes on filling
    with h5py.File(tmp, "r") as handle:
        offset = handle["hidden"].id.get_chunk_info_by_coord((0, tail_start, 0)).byte_offset
    with open(tmp, "r+b") as raw:
        raw.seek(offset + 3)
        byte = raw.read(1)
        raw.seek(offset + 3)
        raw.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(CacheError, match=r"unfinished chunk of hidden .*\(crc32\)"):
        InPlaceWriter(tmp, meta, state)


def test_unfinished_record_is_not_a_record(tmp_path):
    path = write_part_record(tmp_path / "part-00003.h5", {"hidden": [512, 7]})
    assert read_part_record(path) == {"hidden": [512, 7]}
    assert read_part_record(tmp_path / "missing.h5") is None
    path.write_bytes(path.read_bytes()[:100])
    assert read_part_record(path) is None


def test_checkpoints_write_only_new_rows_and_resume_within_one_chunk(tmp_path, monkeypatch):
    """Two checkpoints inside one pooled chunk: the second writes just the rows after the
    first, and a writer resumed from the second record still finishes an identical cache."""
    meta, fixed, streamed = toy(n_examples=900)  # one pooled chunk (1,024 rows) per layer
    offsets = fixed["examples/offsets"]
    tmp, out = tmp_path / "c.h5.tmp", tmp_path / "c.h5"
    create_in_place(tmp, meta, fixed)
    writer = InPlaceWriter(tmp, meta)
    write_examples(writer, streamed, offsets, 0, 300)
    writer.checkpoint()
    write_examples(writer, streamed, offsets, 300, 340)
    written: list[int] = []
    real_pwrite = __import__("os").pwrite

    def counting_pwrite(fd, data, offset):
        written.append(memoryview(data).nbytes)
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr("probe.cache.os.pwrite", counting_pwrite)
    state = writer.checkpoint()
    monkeypatch.undo()
    writer.close()
    n_layers, hidden = len(meta.layers), meta.hidden_size
    pooled_rows = 40 * hidden * 2 * len(POOLINGS) + 40 * 4  # float16 vectors, int32 positions
    hidden_tail = (int(offsets[340]) % 256) * hidden * 2  # the token chunk's rows so far
    assert sum(written) <= n_layers * (pooled_rows + hidden_tail)
    assert sum(written) >= n_layers * pooled_rows
    write_part_record(tmp_path / "part-00000.h5", state)
    writer = InPlaceWriter(tmp, meta, read_part_record(tmp_path / "part-00000.h5"))
    write_examples(writer, streamed, offsets, 340, meta.n_examples)
    writer.checkpoint()
    writer.close()
    finish_in_place(tmp, out, meta)
    with Cache.open(out) as cache:
        for name, values in streamed.items():
            np.testing.assert_array_equal(cache.read(name), values, err_msg=name)
