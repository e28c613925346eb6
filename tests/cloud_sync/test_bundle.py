"""The bundle file format: keys, streaming, and writes that fail half-way.

The writer must leave nothing under the final name unless the file was read back
intact; the reader must refuse anything it cannot prove came whole from the sender.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_sync import bundle as bundle_mod
from cloud_sync.bundle import (
    CHUNK,
    BundleError,
    BundleWriteError,
    BundleWriter,
    open_bundle,
    read_header,
)
from cloud_sync.bundle_keys import raw_x25519, x25519_private, x25519_public

SENDER = Ed25519PrivateKey.generate()
RECIPIENT = Ed25519PrivateKey.generate()
HEADER = {"kind": "sales", "from": "S-001", "to": "office", "station_id": "S-001",
          "created_at": "2026-11-22T10:00:00.000000Z", "range": {}}


def write(directory: Path, lines: list[bytes], name: str = "b.fcb") -> Path:
    with BundleWriter(directory, name, HEADER, signer=SENDER,
                      recipient=RECIPIENT.public_key()) as writer:
        for line in lines:
            writer.write(line + b"\n")
        return writer.commit().path


def read(path: Path, key: Ed25519PrivateKey = RECIPIENT) -> list[bytes]:
    with open_bundle(path, me="office", my_key=key, kind="sales",
                     key_for=lambda s: SENDER.public_key() if s == "S-001" else None) as b:
        return list(b.lines())


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_the_x25519_keys_derived_from_both_halves_of_an_ed25519_key_agree(seed: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert raw_x25519(x25519_private(key).public_key()) == \
        raw_x25519(x25519_public(key.public_key()))


def test_many_chunks_stream_through_and_come_back_exactly(tmp_path: Path) -> None:
    # Incompressible lines, so the body spans many 64 KiB chunks.
    lines = [hashlib.sha256(str(i).encode()).hexdigest().encode() * 3 for i in range(20_000)]
    path = write(tmp_path, lines)
    assert path.stat().st_size > 10 * CHUNK
    assert read(path) == lines
    header = read_header(path)
    assert header["to"] == "office" and header["format"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_empty_body_is_a_valid_bundle(tmp_path: Path) -> None:
    assert read(write(tmp_path, [])) == []


def test_only_the_recipient_can_read_it(tmp_path: Path) -> None:
    path = write(tmp_path, [b"secret sale"])
    assert b"secret sale" not in path.read_bytes()
    with pytest.raises(BundleError) as info:
        read(path, key=Ed25519PrivateKey.generate())
    assert info.value.reason == "wrong_recipient"


def test_chunks_swapped_are_refused_even_if_re_signed(tmp_path: Path) -> None:
    """STREAM nonces: a reordered body does not decrypt, whoever signs it."""
    lines = [os.urandom(40).hex().encode() for _ in range(8000)]
    path = write(tmp_path, lines)
    data = bytearray(path.read_bytes())
    start = len(bundle_mod.MAGIC) + 4 + int.from_bytes(data[8:12], "big")
    size = bundle_mod.SEALED_CHUNK
    first, second = data[start:start + size], data[start + size:start + 2 * size]
    data[start:start + size], data[start + size:start + 2 * size] = second, first
    body = bytes(data[:-64])
    signature = SENDER.sign(bundle_mod.SIGNATURE_CONTEXT + hashlib.sha512(body).digest())
    path.write_bytes(body + signature)
    with pytest.raises(BundleError) as info:
        read(path)
    assert info.value.reason == "tampered"


class FailingFile:
    """A file whose writes fail with ``error`` after ``budget`` bytes (a pulled stick)."""

    def __init__(self, real: Any, budget: int, error: int) -> None:
        self.real, self.budget, self.error = real, budget, error

    def write(self, data: bytes) -> int:
        if self.budget < len(data):
            raise OSError(self.error, os.strerror(self.error))
        self.budget -= len(data)
        return int(self.real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize(("error", "words"), [(errno.EIO, "pulled out"),
                                              (errno.ENOSPC, "full"),
                                              (errno.EROFS, "read-only")])
def test_a_write_failing_half_way_leaves_no_bundle(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   error: int, words: str) -> None:
    real_open = open

    def failing_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, mode, *args, **kwargs)
        return FailingFile(f, 200_000, error) if mode == "xb" else f

    monkeypatch.setattr("builtins.open", failing_open)
    lines = [os.urandom(50).hex().encode() for _ in range(10_000)]
    with pytest.raises(BundleWriteError) as info:
        write(tmp_path, lines)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no final name, no temporary file


def test_a_drive_that_returns_other_bytes_fails_the_read_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = BundleWriter._read_back

    def faulty_drive(self: BundleWriter) -> None:
        data = bytearray(self.tmp.read_bytes())
        data[len(data) // 2] ^= 0x10  # a cheap stick forgot a bit
        self.tmp.write_bytes(bytes(data))
        original(self)

    monkeypatch.setattr(BundleWriter, "_read_back", faulty_drive)
    with pytest.raises(BundleWriteError) as info:
        write(tmp_path, [b"x" * 100] * 1000)
    assert "differs from what was written" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_does_not_exist_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(BundleWriteError) as info:
        write(tmp_path / "not-mounted", [b"x"])
    assert "no bundle was written" in str(info.value)


def test_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "photo.fcb"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 500)
    with pytest.raises(BundleError) as info:
        read(path)
    assert info.value.reason == "not_a_bundle" and "photo.fcb" in str(info.value)


def test_an_interrupted_export_s_temporary_is_cleared_by_the_next(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = tmp_path / f".b.fcb.{dead}.tmp"  # a killed export's leftover
    left.write_bytes(b"x" * 1000)
    live = tmp_path / f".b.fcb.{os.getppid()}.tmp"  # a writer still running: not ours
    live.write_bytes(b"y")
    other = tmp_path / f".other.fcb.{dead}.tmp"  # another file's: left alone
    other.write_bytes(b"z")
    read(write(tmp_path, [b"sale"]))
    assert not left.exists() and live.exists() and other.exists()
