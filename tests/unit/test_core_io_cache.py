"""Atomic writes, atomic directories and the content-hashed cache."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from unlearnkit.core import io as uio
from unlearnkit.core.cache import KEY_FILE, MANIFEST_FILE, Cache, content_hash, default_cache_dir
from unlearnkit.core.config import Config, param


def _listing(root: Path) -> list[str]:
    """Every path under ``root`` (hidden temp files included), relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- atomic file writes ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("write", "payload", "expected"),
    [
        (uio.atomic_write_bytes, b"\x00\x01bin", b"\x00\x01bin"),
        (uio.atomic_write_text, "héllo\nworld", "héllo\nworld".encode()),
        (uio.atomic_write_json, {"b": 1, "a": [1.5, "ü"]}, b'{\n  "b": 1,\n  "a": [\n'),
    ],
    ids=["bytes", "text", "json"],
)
def test_atomic_write_creates_parents_and_leaves_no_temp(tmp_path, write, payload, expected):
    target = tmp_path / "a" / "b" / "out.dat"
    returned = write(target, payload)
    assert returned == target
    assert target.read_bytes().startswith(expected)
    assert _listing(tmp_path) == ["a", "a/b", "a/b/out.dat"]


def test_atomic_write_json_is_utf8_with_trailing_newline_and_readable(tmp_path):
    target = tmp_path / "x.json"
    obj = {"z": 1, "name": "ü", "nested": {"v": [1, 2]}}
    uio.atomic_write_json(target, obj)
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert '"name": "ü"' in text  # not \u00fc
    assert text.index('"z"') < text.index('"name"')  # insertion order kept
    assert json.loads(text) == obj
    uio.atomic_write_json(target, [1], indent=None)
    assert target.read_text(encoding="utf-8") == "[1]\n"


def test_atomic_write_replaces_existing_file(tmp_path):
    target = tmp_path / "f.txt"
    uio.atomic_write_text(target, "old")
    uio.atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert _listing(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failure_while_writing_keeps_old_file_and_removes_temp(tmp_path, monkeypatch, failing):
    target = tmp_path / "f.txt"
    target.write_text("old", encoding="utf-8")

    def boom(*args, **kwargs):
        raise OSError(f"simulated {failing} failure")

    monkeypatch.setattr(uio.os, failing, boom)
    with pytest.raises(OSError, match=f"simulated {failing} failure"):
        uio.atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old"
    assert _listing(tmp_path) == ["f.txt"]


def test_atomic_write_json_rejects_nan_and_keeps_old_file(tmp_path):
    target = tmp_path / "r.json"
    uio.atomic_write_json(target, {"v": 1.0})
    with pytest.raises(ValueError):
        uio.atomic_write_json(target, {"v": float("nan")})
    assert json.loads(target.read_text(encoding="utf-8")) == {"v": 1.0}
    assert _listing(tmp_path) == ["r.json"]


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (
            [{"id": 1, "text": "ä b"}, {"id": 2, "tags": [1, 2]}],
            '{"id": 1, "text": "ä b"}\n{"id": 2, "tags": [1, 2]}\n',
        ),
        ([], ""),
    ],
)
def test_write_jsonl(tmp_path, records, expected):
    target = tmp_path / "d" / "x.jsonl"
    assert uio.write_jsonl(target, records) == target
    text = target.read_text(encoding="utf-8")
    assert text == expected
    assert [json.loads(line) for line in text.splitlines()] == records
    assert _listing(tmp_path) == ["d", "d/x.jsonl"]


# -- atomic directories ------------------------------------------------------------------
def test_atomic_dir_moves_into_place_on_success(tmp_path):
    target = tmp_path / "p" / "model"
    with uio.atomic_dir(target) as tmp:
        assert tmp != target and tmp.parent == target.parent
        assert not target.exists()  # readers never see a half-built directory
        (tmp / "weights.bin").write_bytes(b"w")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("a", encoding="utf-8")
    assert (target / "weights.bin").read_bytes() == b"w"
    assert (target / "sub" / "a.txt").read_text(encoding="utf-8") == "a"
    assert not tmp.exists()
    assert _listing(tmp_path) == [
        "p",
        "p/model",
        "p/model/sub",
        "p/model/sub/a.txt",
        "p/model/weights.bin",
    ]


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_atomic_dir_exception_removes_temp_and_leaves_no_target(tmp_path, exc_type):
    target = tmp_path / "model"
    with pytest.raises(exc_type), uio.atomic_dir(target) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise exc_type("interrupted")
    assert not target.exists()
    assert _listing(tmp_path) == []


def test_atomic_dir_refuses_existing_target_without_overwrite(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "keep.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(FileExistsError, match="overwrite=True"), uio.atomic_dir(target):
        pytest.fail("the body must not run")
    assert (target / "keep.txt").read_text(encoding="utf-8") == "keep"
    assert _listing(tmp_path) == ["model", "model/keep.txt"]


def test_atomic_dir_overwrite_replaces_whole_directory(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    with uio.atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new", encoding="utf-8")
    assert _listing(tmp_path) == ["model", "model/new.txt"]


def test_atomic_dir_overwrite_failure_keeps_old_directory(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), uio.atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new", encoding="utf-8")
        raise RuntimeError("build failed")
    assert _listing(tmp_path) == ["model", "model/old.txt"]


# -- content hash ------------------------------------------------------------------------
@dataclass(frozen=True)
class Key(Config):
    """A cache key config."""

    model: str = "tiny"
    lr: float = param(1e-3, gt=0)
    layers: tuple[int, ...] = (1, 2)


def test_content_hash_is_pinned():
    # Cache directories are named by this hash: changing it silently invalidates every cache.
    assert content_hash({"a": 1, "b": [1, 2], "c": "x"}) == "ed60d8300f9dfe0d"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"a": 1, "b": {"x": 1, "y": 2}}, {"b": {"y": 2, "x": 1}, "a": 1}),
        ((1, 2, 3), [1, 2, 3]),
        ({"k": (1, (2, 3))}, {"k": [1, [2, 3]]}),
        (Key(), Key()),
        (Key(lr=1), Key(lr=1.0)),
        (Key(layers=[1, 2]), Key(layers=(1, 2))),
        (Key(), Key().to_dict()),
        ({"p": Path("/a/b")}, {"p": "/a/b"}),
        ({1: "x"}, {"1": "x"}),
    ],
)
def test_content_hash_equal_for_equal_content(a, b):
    assert content_hash(a) == content_hash(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"b": 1}),
        ([1, 2], [2, 1]),
        (Key(), Key(lr=2e-3)),
        (Key(), Key(model="small")),
        (Key(layers=(1,)), Key(layers=(1, 2))),
        ({"a": None}, {}),
        ("1", 1),
    ],
)
def test_content_hash_differs_for_different_content(a, b):
    assert content_hash(a) != content_hash(b)


@pytest.mark.parametrize("length", [8, 16, 64])
def test_content_hash_length_is_a_hex_prefix(length):
    full = content_hash({"a": 1}, length=64)
    h = content_hash({"a": 1}, length=length)
    assert len(h) == length and full.startswith(h)
    int(h, 16)  # hex digits only


# -- Cache -------------------------------------------------------------------------------
def test_get_or_build_builds_once(tmp_path):
    cache = Cache(tmp_path / "cache")
    calls: list[Path] = []

    def build(d: Path) -> None:
        calls.append(d)
        (d / "artefact.txt").write_text("built", encoding="utf-8")

    key = Key(lr=2e-3)
    assert not cache.has("model", key)
    path, built = cache.get_or_build("model", key, build)
    assert built is True and len(calls) == 1
    assert calls[0] != path  # build wrote into a temporary directory
    assert path == tmp_path / "cache" / "model" / content_hash(key)
    assert (path / "artefact.txt").read_text(encoding="utf-8") == "built"
    assert json.loads((path / KEY_FILE).read_text(encoding="utf-8")) == key.to_dict()
    assert cache.has("model", key)

    again, built_again = cache.get_or_build("model", Key(lr=0.002), build)
    assert (again, built_again) == (path, False)
    assert len(calls) == 1
    assert _listing(tmp_path / "cache" / "model") == sorted(
        [
            path.name,
            f"{path.name}/artefact.txt",
            f"{path.name}/{KEY_FILE}",
            f"{path.name}/{MANIFEST_FILE}",
        ]
    )


def test_different_keys_and_kinds_get_different_directories(tmp_path):
    cache = Cache(tmp_path)
    p1, _ = cache.get_or_build("model", {"a": 1}, lambda d: None)
    p2, _ = cache.get_or_build("model", {"a": 2}, lambda d: None)
    p3, _ = cache.get_or_build("data", {"a": 1}, lambda d: None)
    assert len({p1, p2, p3}) == 3
    assert p1.name == p3.name  # same key, same hash, different kind folder


def test_failed_build_leaves_nothing_and_next_call_builds_again(tmp_path):
    cache = Cache(tmp_path)
    key = {"model": "tiny"}

    def failing(d: Path) -> None:
        (d / "half.bin").write_bytes(b"x")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get_or_build("model", key, failing)
    assert not cache.has("model", key)
    assert not cache.path("model", key).exists()
    assert _listing(tmp_path / "model") == []

    path, built = cache.get_or_build("model", key, lambda d: (d / "ok").write_text("1"))
    assert built is True
    assert (path / "ok").read_text() == "1"


def test_clear_removes_one_kind_or_everything(tmp_path):
    cache = Cache(tmp_path / "c")
    cache.get_or_build("model", {"a": 1}, lambda d: None)
    cache.get_or_build("data", {"a": 1}, lambda d: None)
    cache.clear("model")
    assert not cache.has("model", {"a": 1}) and cache.has("data", {"a": 1})
    cache.clear()
    assert not (tmp_path / "c").exists()


def test_default_cache_dir_honours_unlearnkit_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"
    assert Cache().root == tmp_path / "mine"
    assert Cache(tmp_path / "explicit").root == tmp_path / "explicit"


def test_default_cache_dir_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("UNLEARNKIT_CACHE", "~/ukcache")
    assert default_cache_dir() == tmp_path / "ukcache"


def test_default_cache_dir_falls_back_to_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("UNLEARNKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "unlearnkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "unlearnkit"


def test_atomic_writes_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        f = uio.atomic_write_text(tmp_path / "f.txt", "x")
        with uio.atomic_dir(tmp_path / "d") as d:
            (d / "a").write_text("y")
    finally:
        os.umask(old)
    assert f.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
