"""Defect 4: an edited data file is read afresh, even when its modification time is kept.

Reading went through ``datasets``, whose cache keys on the path and the mtime: a file
rewritten with other records of the same size and its mtime restored (``cp -p``, ``rsync
-t``, a checkout, ``os.utime``) came back with its old records. Local files are now read from
their bytes each time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from unlearnkit.data.loaders import load_muse, load_records, load_tofu


def _qa(tag: str, k: int) -> dict[str, str]:
    # same length for every tag of one letter: the rewritten file keeps its size
    return {"question": f"Where does {tag}{k} live?", "answer": f"In town {tag}{k}."}


def _rewrite_keeping_mtime(path: Path, content: bytes) -> None:
    """Replace the file's bytes, then give it back its old access and modification times."""
    before = path.stat()
    assert len(content) == before.st_size  # a same-size edit: nothing but the bytes differ
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.mark.parametrize("layout", ["jsonl", "json-array"])
def test_a_file_edited_with_its_mtime_kept_is_read_afresh(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "forget.json"

    def encode(records: list[dict]) -> bytes:
        return _jsonl(records) if layout == "jsonl" else json.dumps(records).encode()

    old = [_qa("a", k) for k in range(4)]
    new = [_qa("b", k) for k in range(4)]
    path.write_bytes(encode(old))
    assert load_records(path) == old
    _rewrite_keeping_mtime(path, encode(new))
    assert load_records(path) == new


def test_a_parquet_file_edited_with_its_mtime_kept_is_read_afresh(tmp_path: Path) -> None:
    path = tmp_path / "forget.parquet"
    old = [_qa("a", k) for k in range(4)]
    new = [_qa("b", k) for k in range(4)]
    pq.write_table(pa.Table.from_pylist(old), path)
    assert load_records(path) == old
    before = path.stat()
    pq.write_table(pa.Table.from_pylist(new), path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert load_records(path) == new


def _tofu_dir(root: Path, forget: list[dict], retain: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "forget10.json").write_bytes(_jsonl(forget))
    (root / "retain90.json").write_bytes(_jsonl(retain))
    configs = [
        {"config_name": "forget10", "data_files": "forget10.json"},
        {"config_name": "retain90", "data_files": "retain90.json"},
    ]
    front = yaml.safe_dump({"configs": configs}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{front}---\n", encoding="utf-8")
    return root


def test_load_tofu_reads_an_edited_forget_set_afresh(tmp_path: Path) -> None:
    retain = [_qa("r", k) for k in range(6)]
    root = _tofu_dir(tmp_path / "tofu", [_qa("a", k) for k in range(3)], retain)
    assert load_tofu(root).forget[0]["question"] == "Where does a0 live?"
    _rewrite_keeping_mtime(root / "forget10.json", _jsonl([_qa("c", k) for k in range(3)]))
    assert [r["question"] for r in load_tofu(root).forget] == [
        f"Where does c{k} live?" for k in range(3)
    ]


def test_load_muse_reads_an_edited_text_afresh(tmp_path: Path) -> None:
    root = tmp_path / "muse"
    (root / "raw").mkdir(parents=True)
    forget = root / "raw" / "forget.json"
    forget.write_bytes(_jsonl([{"text": "Alpha was born in Xville."}]))
    (root / "raw" / "retain.json").write_bytes(_jsonl([{"text": "Gamma was born in Zville."}]))
    assert load_muse(root).forget == [{"text": "Alpha was born in Xville."}]
    _rewrite_keeping_mtime(forget, _jsonl([{"text": "Omega was born in Yville."}]))
    assert load_muse(root).forget == [{"text": "Omega was born in Yville."}]
