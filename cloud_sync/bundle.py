"""Flash-drive bundles: one signed, encrypted, compressed file per transfer.

Layout (docs/bundles.md is the reference)::

    "FCBUNDLE"  u32 header length  header (canonical JSON, clear text)
    ciphertext  (zstd stream, cut into 64 KiB chunks, each AES-256-GCM with a 16-byte tag)
    "FCBEND01"  u64 ciphertext length  Ed25519 signature (64 bytes)

The key of the body is agreed by X25519 between a fresh ephemeral key (its public half
is in the header) and the recipient's key (``cloud_sync.bundle_keys``), expanded by
HKDF-SHA256 over the header's hash, so a changed header gives another key. Chunk
``i`` uses the nonce ``i`` (11 bytes, big-endian) followed by 1 for the last chunk
and 0 otherwise (the STREAM construction), so a cut or reordered body never
decrypts. The signature covers every byte before it; a reader checks it over the
whole file before it decrypts anything, so a tampered, truncated or foreign file is
refused before any of it is used. Writing and reading both stream: memory does not
grow with the number of sales.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zstandard
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloud_sync import wire
from cloud_sync.bundle_keys import raw_x25519, x25519_private, x25519_public
from cloud_sync.envelope import canonical
from core.errors import ForecourtError, Refusal
from core.keys import public_text

MAGIC = b"FCBUNDLE"
END = b"FCBEND01"
FORMAT = 1
CIPHER = "x25519-hkdf-sha256-aes256gcm-stream64k"
COMPRESSION = "zstd"
CHUNK = 64 * 1024
TAG = 16
SEALED_CHUNK = CHUNK + TAG
TRAILER = len(END) + 8 + 64
MAX_HEADER = 64 * 1024
MAX_LINE = 256 * 1024 * 1024
KINDS = ("sales", "reply")
SIGNATURE_CONTEXT = b"forecourt bundle signature v1\n"
SUFFIX = ".fcb"
HEADER_FIELDS = frozenset({"format", "kind", "from", "to", "station_id", "created_at",
                           "signer", "recipient", "ephemeral_key", "cipher", "compression",
                           "range"})


class BundleError(Refusal):
    """A bundle refused; ``reason`` names what is wrong with it."""


class BundleWriteError(ForecourtError):
    """A bundle could not be written (stick full, read-only, pulled out, faulty)."""

    code = "bundle_write_failed"


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes, header: bytes) -> AESGCM:
    info = b"forecourt bundle v1\n" + hashlib.sha256(header).digest()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient,
               info=info).derive(shared)
    return AESGCM(key)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_problem(path: Path, exc: OSError) -> BundleWriteError:
    import errno

    what = {errno.ENOSPC: "the drive is full", errno.EDQUOT: "the drive is full (quota)",
            errno.EROFS: "the drive is read-only (write-protect switch or mounted ro)",
            errno.EACCES: "writing there is not permitted",
            errno.EPERM: "writing there is not permitted",
            errno.EIO: "the drive stopped answering (pulled out or faulty)",
            errno.ENODEV: "the drive is gone (pulled out)",
            errno.ENOENT: "the folder is gone (drive pulled out?)"}.get(
        exc.errno or 0, exc.strerror or str(exc))
    return BundleWriteError(f"cannot write {path.name} to {path.parent}: {what}; "
                            "no bundle was written under that name")


def _remove_dead_temporaries(directory: Path, name: str) -> None:
    """Remove what an export that was killed or cut off left on the stick.

    Only temporaries of this file name whose writer is no longer running here go; a
    temporary of a live writer, or one made elsewhere by a pid alive here, stays.
    """
    try:
        found = list(directory.glob(f".{name}.*.tmp"))
    except OSError:
        return
    for path in found:
        pid_text = path.name[len(name) + 2:-len(".tmp")]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                path.unlink()
        except OSError:
            continue  # alive (another user's process): not ours to remove


@dataclass(frozen=True)
class WrittenBundle:
    path: Path
    size: int
    header: dict[str, Any]
    plain_bytes: int


class BundleWriter:
    """Stream a bundle into ``directory/name``: atomic, verified by reading it back.

    Plaintext goes in with :meth:`write`; :meth:`commit` ends the stream, fsyncs the
    temporary file, reads it back from the drive (after dropping it from the page
    cache) and checks signature and every chunk, then renames it to ``name`` and
    fsyncs the folder. On any failure the temporary file is removed (when the drive
    still answers) and nothing exists under ``name`` that was not verified.
    """

    def __init__(self, directory: Path, name: str, header: dict[str, Any], *,
                 signer: Ed25519PrivateKey, recipient: Ed25519PublicKey,
                 level: int = 1) -> None:
        self.directory = directory
        self.path = directory / name
        self.tmp = directory / f".{name}.{os.getpid()}.tmp"
        _remove_dead_temporaries(directory, name)
        self._signer = signer
        ephemeral = X25519PrivateKey.generate()
        eph_raw = raw_x25519(ephemeral.public_key())
        recipient_x = x25519_public(recipient)
        self.header = {**header, "format": FORMAT, "signer": public_text(signer),
                       "recipient": public_text(recipient),
                       "ephemeral_key": base64.b64encode(eph_raw).decode(),
                       "cipher": CIPHER, "compression": COMPRESSION}
        head = canonical(self.header)
        self._prefix = MAGIC + struct.pack(">I", len(head)) + head
        self._aead = _derive(ephemeral.exchange(recipient_x), eph_raw,
                             raw_x25519(recipient_x), head)
        self._compress = zstandard.ZstdCompressor(level=level).compressobj()
        self._pending = bytearray()
        self._index = 0
        self._digest = hashlib.sha512(self._prefix)
        self._plain = hashlib.sha256()
        self.plain_bytes = 0
        self._ct_len = 0
        self._file: BinaryIO | None = None
        try:
            self._file = open(self.tmp, "xb")  # noqa: SIM115 - closed in commit/abort
            self._put(self._prefix)
        except OSError as exc:
            self.abort()
            raise _write_problem(self.path, exc) from None

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self.abort()

    def _put(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)

    def write(self, data: bytes) -> None:
        self._plain.update(data)
        self.plain_bytes += len(data)
        self._pending += self._compress.compress(data)
        if len(self._pending) >= CHUNK:
            self._seal_full()

    def _seal_full(self) -> None:
        view = memoryview(self._pending)
        done = 0
        try:
            while len(self._pending) - done >= CHUNK + 1:  # always keep a last chunk back
                sealed = self._aead.encrypt(_nonce(self._index, False),
                                            bytes(view[done:done + CHUNK]), None)
                self._index += 1
                self._digest.update(sealed)
                self._ct_len += len(sealed)
                self._put(sealed)
                done += CHUNK
        except OSError as exc:
            view.release()
            self.abort()
            raise _write_problem(self.path, exc) from None
        view.release()
        del self._pending[:done]

    def commit(self) -> WrittenBundle:
        """Finish, verify by reading back, and move to the final name."""
        assert self._file is not None, "commit after abort"
        try:
            self._pending += self._compress.flush()
            self._seal_full()
            sealed = self._aead.encrypt(_nonce(self._index, True), bytes(self._pending), None)
            self._digest.update(sealed)
            self._ct_len += len(sealed)
            self._put(sealed)
            tail = END + struct.pack(">Q", self._ct_len)
            self._digest.update(tail)
            signature = self._signer.sign(SIGNATURE_CONTEXT + self._digest.digest())
            self._put(tail + signature)
            self._file.flush()
            os.fsync(self._file.fileno())
            size = self._file.tell()
            self._file.close()
            self._file = None
            self._read_back()
            os.replace(self.tmp, self.path)
            _fsync_dir(self.directory)
        except OSError as exc:
            self.abort()
            raise _write_problem(self.path, exc) from None
        except BaseException:
            self.abort()
            raise
        return WrittenBundle(self.path, size, self.header, self.plain_bytes)

    def _read_back(self) -> None:
        """Read the file back from the drive and check it decrypts to what was written."""
        with open(self.tmp, "rb") as f:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                reader = _Reader(f, self.tmp)
                reader.verify(self._signer.public_key())
                plain = hashlib.sha256()
                for chunk in reader.plaintext(self._aead):
                    plain.update(chunk)
            except BundleError as exc:
                raise BundleWriteError(f"{self.path.name} read back from {self.directory} "
                                       f"differs from what was written ({exc}): the drive "
                                       "may be faulty; no bundle was written under that "
                                       "name") from None
        if plain.digest() != self._plain.digest():
            raise BundleWriteError(f"{self.path.name} read back from {self.directory} "
                                   "differs from what was written: the drive may be faulty")

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        # When the drive is gone, the temporary name is all that can be left.
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


class _Reader:
    """The structure of one bundle file: header, ciphertext span, trailer."""

    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f = f
        self.path = path
        name = path.name
        f.seek(0, os.SEEK_END)
        self.size = f.tell()
        f.seek(0)
        start = f.read(len(MAGIC) + 4)
        if len(start) < len(MAGIC) + 4 or start[:len(MAGIC)] != MAGIC:
            raise BundleError("not_a_bundle", f"{name} is not a forecourt bundle")
        (head_len,) = struct.unpack(">I", start[len(MAGIC):])
        if not 0 < head_len <= MAX_HEADER:
            raise BundleError("damaged", f"{name} is damaged: its header length is wrong")
        self.head = f.read(head_len)
        self.body_at = len(start) + head_len
        if len(self.head) < head_len or self.size < self.body_at + TAG + TRAILER:
            raise BundleError("truncated", f"{name} is truncated: it ends before its body")
        header = wire.decode(self.head, what=f"{name} is damaged: its header",
                             max_bytes=MAX_HEADER,
                             error=lambda _reason, text: BundleError("damaged", text))
        if not isinstance(header, dict):
            raise BundleError("damaged", f"{name} is damaged: its header is not an object")
        if header.get("format") != FORMAT:
            raise BundleError("unsupported", f"{name} has bundle format "
                              f"{header.get('format')!r}; this forecourt reads format {FORMAT}")
        missing = sorted(HEADER_FIELDS - header.keys())
        if missing or header.get("cipher") != CIPHER or \
                header.get("compression") != COMPRESSION or header.get("kind") not in KINDS:
            raise BundleError("damaged", f"{name} is damaged: its header is incomplete or "
                              "names an unknown kind, cipher or compression")
        self.header: dict[str, Any] = header
        f.seek(self.size - TRAILER)
        tail = f.read(TRAILER)
        (ct_len,) = struct.unpack(">Q", tail[len(END):len(END) + 8])
        if tail[:len(END)] != END or ct_len != self.size - TRAILER - self.body_at:
            raise BundleError("truncated", f"{name} is truncated or damaged: its end marker "
                              "is missing or its length does not match")
        if ct_len % SEALED_CHUNK < TAG:
            raise BundleError("damaged", f"{name} is damaged: its body length is impossible")
        self.ct_len = ct_len
        self.signature = tail[len(END) + 8:]

    def verify(self, key: Ed25519PublicKey) -> None:
        digest = hashlib.sha512()
        self.f.seek(0)
        remaining = self.size - len(self.signature)
        while remaining:
            block = self.f.read(min(remaining, 1 << 20))
            if not block:
                raise BundleError("truncated", f"{self.path.name} is truncated")
            digest.update(block)
            remaining -= len(block)
        try:
            key.verify(self.signature, SIGNATURE_CONTEXT + digest.digest())
        except InvalidSignature:
            raise BundleError("tampered", f"{self.path.name} was altered or damaged: its "
                              "signature does not match its content") from None

    def plaintext(self, aead: AESGCM) -> Iterator[bytes]:
        """Decrypted, decompressed blocks, in order; BundleError if any chunk fails."""
        dobj = zstandard.ZstdDecompressor().decompressobj()
        self.f.seek(self.body_at)
        remaining = self.ct_len
        index = 0
        while remaining:
            take = SEALED_CHUNK if remaining > SEALED_CHUNK else remaining
            sealed = self.f.read(take)
            if len(sealed) != take:
                raise BundleError("truncated", f"{self.path.name} is truncated")
            remaining -= take
            try:
                chunk = aead.decrypt(_nonce(index, remaining == 0), sealed, None)
                out = dobj.decompress(chunk)
            except (InvalidTag, zstandard.ZstdError):
                raise BundleError("tampered", f"{self.path.name} does not decrypt: damaged, "
                                  "or encrypted for another key") from None
            index += 1
            if out:
                yield out
        if not dobj.eof:
            raise BundleError("damaged", f"{self.path.name}: its compressed body ends early")


def _check_header(header: dict[str, Any], name: str) -> None:
    """The header's own fields, before any is used, stored or shown (issue 10 #10).

    ``created_at`` is a UTC timestamp as forecourt writes them; ``range`` an object of
    nothing but integers and nulls. (``from``, ``to`` and ``station_id`` are compared
    with known ids and shown escaped.)
    """
    if not wire.is_timestamp(header["created_at"]):
        raise BundleError("damaged", f"{name} is damaged: its header's created_at is not a "
                          "UTC timestamp")
    span = header["range"]
    if not (isinstance(span, dict) and len(span) <= 8 and
            all(wire.is_text(k, max_len=32) and _range_value(v) for k, v in span.items())):
        raise BundleError("damaged", f"{name} is damaged: its header's range is not an "
                          "object of numbers and names")


def _range_value(value: Any) -> bool:
    """A value of a header's ``range``: null, an integer, or a short name (``delta``)."""
    if value is None or isinstance(value, int):
        return True
    return wire.is_text(value, max_len=32)


def read_header(path: Path) -> dict[str, Any]:
    """The clear-text header of a bundle (no signature check: for listing only)."""
    try:
        with open(path, "rb") as f:
            header = _Reader(f, path).header
            _check_header(header, path.name)
            return header
    except OSError as exc:
        raise BundleError("unreadable", f"cannot read {path}: {exc.strerror}") from None


class OpenBundle:
    """A bundle whose signature is verified; :meth:`lines` decrypts it."""

    def __init__(self, reader: _Reader, aead: AESGCM) -> None:
        self._reader = reader
        self.header = reader.header
        self.size = reader.size
        self._aead = aead

    def blocks(self) -> Iterator[bytes]:
        return self._reader.plaintext(self._aead)

    def lines(self) -> Iterator[bytes]:
        """The plaintext, line by line (without the newline)."""
        rest = b""
        for block in self.blocks():
            parts = (rest + block).split(b"\n")
            rest = parts.pop()
            if len(rest) > MAX_LINE:
                raise BundleError("damaged", "a line of the bundle is too long")
            yield from parts
        if rest:
            yield rest

    def close(self) -> None:
        self._reader.f.close()

    def __enter__(self) -> OpenBundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bundle(path: Path, *, me: str, my_key: Ed25519PrivateKey,
                key_for: Callable[[str], Ed25519PublicKey | None],
                kind: str) -> OpenBundle:
    """Open a bundle addressed to ``me``: checks kind, recipient, sender key, signature.

    ``key_for(sender)`` is the sender's pinned key, or None if the sender is unknown.
    Nothing is decrypted before the signature over the whole file has been checked.
    """
    name = path.name
    try:
        f = open(path, "rb")  # noqa: SIM115 - owned by the OpenBundle
    except OSError as exc:
        raise BundleError("unreadable", f"cannot read {path}: {exc.strerror}") from None
    try:
        reader = _Reader(f, path)
        header = reader.header
        _check_header(header, name)
        if header["kind"] != kind:
            raise BundleError("wrong_kind", f"{name} is a {header['kind']} bundle, not a "
                              f"{kind} bundle")
        if header["to"] != me:
            raise BundleError("wrong_recipient", f"{name} is addressed to {header['to']!r}, "
                              f"not to {me!r}")
        sender = header["from"]
        key = key_for(sender) if wire.is_text(sender, max_len=64) else None
        if key is None:
            raise BundleError("unknown_sender", f"{name} comes from {sender!r}, which is "
                              "not a known sender")
        if header["signer"] != public_text(key):
            signer = wire.printable(str(header["signer"]), 24)  # shown: nothing raw
            raise BundleError("unknown_key", f"{name} is signed by the key {signer}..., not "
                              f"by {sender!r}'s known key")
        if header["recipient"] != public_text(my_key):
            raise BundleError("wrong_recipient", f"{name} is encrypted for another key of "
                              f"{me!r} (re-keyed?); it cannot be read here")
        reader.verify(key)
        try:
            eph = base64.b64decode(str(header["ephemeral_key"]), validate=True)
            mine = x25519_private(my_key)
            shared = mine.exchange(X25519PublicKey.from_public_bytes(eph))
        except (binascii.Error, ValueError):
            raise BundleError("damaged", f"{name} has an unusable ephemeral key") from None
        aead = _derive(shared, eph, raw_x25519(mine.public_key()), reader.head)
        return OpenBundle(reader, aead)
    except BaseException:
        f.close()
        raise
