"""distraction.files: a file's SHA-256 and the atomic, fixed-format CSV writer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from distraction.files import file_sha256, write_csv


def test_file_sha256_of_known_contents(tmp_path: Path) -> None:
    empty, abc = tmp_path / "empty", tmp_path / "abc"
    empty.write_bytes(b"")
    abc.write_bytes(b"abc")
    # FIPS 180-2's test vectors.
    assert file_sha256(empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert file_sha256(abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    # Longer than one read block: the same digest as hashing it whole.
    big = tmp_path / "big"
    big.write_bytes(b"a" * 1_000_000)
    assert file_sha256(big) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"


def test_write_csv_fixed_float_format_no_index_no_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "table.csv"
    write_csv(pd.DataFrame({"a": [1.0, 1 / 3], "b": ["x", "y"]}, index=[5, 6]), path)
    assert path.read_text() == "a,b\n1.000000,x\n0.333333,y\n"
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]
