"""tools/layer_zip.py: the same layer files give the same zip, wherever and whenever they were written."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from tools.layer_zip import main, zip_layer


def layer(root: Path) -> Path:
    (root / "python" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "python" / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "python" / "pkg" / "__pycache__" / "__init__.cpython-314.pyc").write_bytes(b"\0cache")
    (root / "python" / "pkg" / "data.json").write_text("{}")
    (root / "python" / "single.py").write_text("")
    return root


def test_same_files_same_bytes_whatever_their_timestamps(tmp_path: Path) -> None:
    first, second = layer(tmp_path / "a"), layer(tmp_path / "b")
    for path in second.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    assert zip_layer(first, tmp_path / "a.zip") == 3
    zip_layer(second, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        # Sorted, relative to the layer root (Lambda finds python/ at the top), no bytecode caches.
        assert archive.namelist() == ["python/pkg/__init__.py", "python/pkg/data.json", "python/single.py"]
        assert {info.external_attr >> 16 for info in archive.infolist()} == {0o644}
        assert archive.read("python/pkg/__init__.py") == b"VALUE = 1\n"


def test_a_changed_file_changes_the_zip(tmp_path: Path) -> None:
    root = layer(tmp_path / "layer")
    zip_layer(root, tmp_path / "before.zip")
    (root / "python" / "single.py").write_text("CHANGED = True\n")
    zip_layer(root, tmp_path / "after.zip")
    assert (tmp_path / "before.zip").read_bytes() != (tmp_path / "after.zip").read_bytes()


def test_an_empty_directory_is_refused_and_leaves_no_zip(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no files to zip"):
        zip_layer(tmp_path / "empty", tmp_path / "layer.zip")
    assert not (tmp_path / "layer.zip").exists()


def test_usage_without_two_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: python -m tools.layer_zip" in capsys.readouterr().err
