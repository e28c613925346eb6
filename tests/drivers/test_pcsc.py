"""Smart cards: the fuel-card application (pure) and PcscReader against a real pcscd.

The stack under test is the real one: PcscReader → pyscard → libpcsclite → pcscd →
the vsmartcard ``vpcd`` driver → TCP → :class:`VirtualCard` (a card in Python).

Recipe for a private pcscd (we are root; nothing touches a system pcscd):

1. A *holder* process owns a new mount namespace with a tmpfs on ``/run/pcscd``
   (pcsc-lite always uses ``/run/pcscd/pcscd.comm``, so one pcscd per namespace)::

       unshare -m --propagation private sh -c \\
           'mkdir -p /run/pcscd && mount -t tmpfs tmpfs /run/pcscd && echo ready \\
            && exec cat >/dev/null'

   It lives until the test closes its stdin (or the test process dies: EOF too).
2. pcscd runs in that namespace, with only our vpcd reader file in its config dir
   and a free TCP port (port and port + 1: vpcd opens two slots)::

       nsenter -t HOLDER -m --wd=/ setpriv --pdeathsig TERM pcscd -f -c CONFDIR

   ``nsenter`` and ``setpriv`` exec in place, so the Popen pid *is* pcscd's: the test
   stops and restarts it by that pid. ``--pdeathsig`` ends it if the test dies.
3. pyscard must talk to that pcscd, so the reader under test runs in the same
   namespace too: ``nsenter -t HOLDER -m --wd=ROOT python -m
   tests.drivers.pcsc_helper`` prints JSON lines (reads, failures, state and slot
   changes) that the test reads. (A multi-threaded pytest process cannot ``setns``
   into another mount namespace itself.)
4. The virtual card runs here, in the test process: TCP needs no namespace.

The unmount happens with the namespace when the holder and pcscd are gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from core.errors import DriverInitializationError, KeyFileError
from drivers.readers import smartcard_app as app
from drivers.readers.pcsc import PcscReader, load_issuer_key
from drivers.readers.virtual_card import VirtualCard

ROOT = Path(__file__).resolve().parents[2]
VPCD_LIB = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
MASTER = bytes(range(16))
PAN = "7800001234567892"
WAIT = 10.0  # upper bound for anything to happen; a bound, not an expectation

# Known answer (also in docs/cards.md): master 00..0F, PAN 7800001234567892,
# challenge 10..1F.
KAT_CARD_KEY = bytes.fromhex("5B0FE7280922AFF5914D431BB4D8A1ED")
KAT_CHALLENGE = bytes(range(0x10, 0x20))
KAT_MAC = bytes.fromhex("6592B6C6F5D23C87709728E0A9AD5901")
KAT_FILE = bytes.fromhex(
    "70355A0878000012345678925F2403281231DF0110373830303030313233343536373839325F20"
    "0F564F4C4741204C4F47495354494353")


# -- the application, pure ----------------------------------------------------------------
def reference_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC written out from RFC 4493 on raw AES, to check the scheme independently."""
    def aes(block: bytes) -> bytes:
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return enc.update(block) + enc.finalize()

    def double(block: bytes) -> bytes:
        n = int.from_bytes(block, "big") << 1
        if n >> 128:
            n = (n & ((1 << 128) - 1)) ^ 0x87
        return n.to_bytes(16, "big")

    k1 = double(aes(bytes(16)))
    k2 = double(k1)
    blocks = [message[i:i + 16] for i in range(0, len(message), 16)] or [b""]
    last = blocks.pop()
    if len(last) == 16:
        last = bytes(a ^ b for a, b in zip(last, k1, strict=True))
    else:
        padded = last + b"\x80" + bytes(15 - len(last))
        last = bytes(a ^ b for a, b in zip(padded, k2, strict=True))
    state = bytes(16)
    for block in [*blocks, last]:
        state = aes(bytes(a ^ b for a, b in zip(state, block, strict=True)))
    return state


@pytest.mark.parametrize("message,mac", [
    (b"", "bb1d6929e95937287fa37d129b756746"),
    (bytes.fromhex("6bc1bee22e409f96e93d7e117393172a"), "070a16b46b4d4144f79bdd9dd04a287c"),
    (bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                   "30c81c46a35ce411"), "dfa66747de9ae63030ca32611497c827"),
])
def test_aes_cmac_matches_rfc4493(message: bytes, mac: str) -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert app.aes_cmac(key, message).hex() == mac
    assert reference_cmac(key, message).hex() == mac


def test_known_answer_derive_mac_verify() -> None:
    pan_bytes = bytes.fromhex("7800001234567892")
    assert app.pan_to_bytes(PAN) == pan_bytes
    assert reference_cmac(MASTER, b"forecourt-card-key" + pan_bytes) == KAT_CARD_KEY
    assert app.derive_card_key(MASTER, PAN) == KAT_CARD_KEY
    assert app.derive_card_key(MASTER, pan_bytes) == KAT_CARD_KEY
    assert reference_cmac(KAT_CARD_KEY, KAT_CHALLENGE + pan_bytes) == KAT_MAC
    assert app.card_mac(KAT_CARD_KEY, KAT_CHALLENGE, PAN) == KAT_MAC
    assert app.verify(MASTER, PAN, KAT_CHALLENGE, KAT_MAC)


def test_wrong_key_or_tampered_mac_fails() -> None:
    other_master = bytes(range(1, 17))
    assert not app.verify(other_master, PAN, KAT_CHALLENGE, KAT_MAC)
    cloned = app.card_mac(os.urandom(16), KAT_CHALLENGE, PAN)  # right PAN, own key
    assert not app.verify(MASTER, PAN, KAT_CHALLENGE, cloned)
    for i in range(16):
        tampered = bytearray(KAT_MAC)
        tampered[i] ^= 0x01
        assert not app.verify(MASTER, PAN, KAT_CHALLENGE, bytes(tampered))
    assert not app.verify(MASTER, PAN, KAT_CHALLENGE, KAT_MAC[:15])
    assert not app.verify(MASTER, "7800001234567893", KAT_CHALLENGE, KAT_MAC)
    assert not app.verify(MASTER, PAN, bytes(16), KAT_MAC)


def test_odd_pan_is_padded_with_f() -> None:
    assert app.pan_to_bytes("780000123456789") == bytes.fromhex("780000123456789F")
    assert app.pan_from_bytes(bytes.fromhex("780000123456789F")) == "780000123456789"
    with pytest.raises(ValueError):
        app.pan_to_bytes("1234")


def test_apdus() -> None:
    assert app.select_aid() == bytes.fromhex("00A4040C08A000000748464301")
    assert app.read_binary(0, 0, sfi=1) == bytes.fromhex("00B0810000")
    assert app.read_binary(0x123, 0x20) == bytes.fromhex("00B0012320")
    assert app.internal_authenticate(KAT_CHALLENGE) == \
        bytes.fromhex("0088000110") + KAT_CHALLENGE + b"\x10"
    assert app.get_response(0x10) == bytes.fromhex("00C0000010")
    assert app.split_response(bytes.fromhex("01029000"), "X") == (b"\x01\x02", 0x9000)
    with pytest.raises(app.CardDataError, match="too short for a status word"):
        app.split_response(b"\x90", "SELECT")
    assert app.sw_text(0x6A82) == "6A82 (application or file not found)"


def test_card_file_known_answer_and_round_trip() -> None:
    card = app.CardData(pan=PAN, expiry=date(2028, 12, 31), card_id=PAN,
                        holder="VOLGA LOGISTICS")
    assert app.encode_card_file(card) == KAT_FILE
    assert app.parse_card_file(KAT_FILE) == card
    assert app.parse_card_file(KAT_FILE + b"\xff" * 20) == card  # fixed-size EF padding
    bare = app.CardData(pan="780000123456789", expiry=date(2030, 1, 1), card_id="C-9")
    assert app.parse_card_file(app.encode_card_file(bare)) == bare
    extra = app.encode_tlv(0x70, app.encode_tlv(0x5A, app.pan_to_bytes(PAN)) +
                           app.encode_tlv(0x9F7F, b"unknown") +
                           app.encode_tlv(0x5F24, bytes.fromhex("281231")) +
                           app.encode_tlv(0xDF01, b"X"))
    assert app.parse_card_file(extra).card_id == "X"  # unknown tags are ignored


def _file(*tlvs: bytes) -> bytes:
    return app.encode_tlv(0x70, b"".join(tlvs))


PAN_TLV = app.encode_tlv(0x5A, app.pan_to_bytes(PAN))
EXP_TLV = app.encode_tlv(0x5F24, bytes.fromhex("281231"))
ID_TLV = app.encode_tlv(0xDF01, b"C-1")


@pytest.mark.parametrize("data,message", [
    (b"", "the card file is empty"),
    (bytes.fromhex("6F03010203"), "does not start with the 70 template"),
    (bytes.fromhex("7010") + PAN_TLV, "shorter than its 70 template says"),
    (bytes.fromhex("70"), "shorter than its 70 template says"),
    (bytes.fromhex("7083000000"), "unsupported length byte 83"),
    (_file(PAN_TLV, EXP_TLV, ID_TLV) + b"junk", "data after its 70 template"),
    (_file(EXP_TLV, ID_TLV), "has no PAN (tag 5A)"),
    (_file(PAN_TLV, ID_TLV), "has no expiry (tag 5F24)"),
    (_file(PAN_TLV, EXP_TLV), "has no card id (tag DF01)"),
    (_file(PAN_TLV, PAN_TLV, EXP_TLV, ID_TLV), "tag 5A appears twice"),
    (_file(app.encode_tlv(0x5A, bytes.fromhex("78A0001234")), EXP_TLV, ID_TLV),
     "PAN (tag 5A) is not 8-19 BCD digits"),
    (_file(app.encode_tlv(0x5A, bytes.fromhex("12F4")), EXP_TLV, ID_TLV),
     "PAN (tag 5A) is not 8-19 BCD digits"),
    (_file(PAN_TLV, app.encode_tlv(0x5F24, bytes.fromhex("281331")), ID_TLV),
     "281331 is not a real date"),
    (_file(PAN_TLV, app.encode_tlv(0x5F24, b"\x28\x12"), ID_TLV), "not a YYMMDD date"),
    (_file(PAN_TLV, EXP_TLV, app.encode_tlv(0xDF01, "Ä".encode())),
     "card id (tag DF01) is not 1-32 printable ASCII"),
    (_file(PAN_TLV, EXP_TLV, ID_TLV, app.encode_tlv(0x5F20, b"\x00\x01")),
     "holder name (tag 5F20) is not 2-26 printable ASCII"),
    (bytes.fromhex("70015A"), "tag 5A has no length"),
    (bytes.fromhex("7003DF8101"), "tag DF8101 has no length"),
    (bytes.fromhex("7002DF81"), "is cut short"),
])
def test_malformed_card_file_gives_a_clear_reason(data: bytes, message: str) -> None:
    with pytest.raises(app.CardDataError) as info:
        app.parse_card_file(data)
    assert message in str(info.value)
    assert info.value.code == "card_unreadable"


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_give_card_data_error(data: bytes) -> None:
    with contextlib.suppress(app.CardDataError):
        app.parse_card_file(data)


@given(st.binary(max_size=40))
def test_any_bytes_after_a_template_header(data: bytes) -> None:
    with contextlib.suppress(app.CardDataError):
        app.parse_card_file(bytes([0x70, len(data)]) + data)


# -- issuer key file ----------------------------------------------------------------------
def test_load_issuer_key(tmp_path: Path) -> None:
    path = tmp_path / "issuer.key"
    path.write_text(MASTER.hex().upper() + "\n")
    path.chmod(0o600)
    assert load_issuer_key(path) == MASTER
    path.write_text(" ".join(f"{b:02x}" for b in MASTER))
    assert load_issuer_key(path) == MASTER
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match=r"accessible by group or others .*chmod 600"):
        load_issuer_key(path)
    path.chmod(0o600)
    for bad in ("", "00" * 15, "00" * 17, "zz" * 16, "-----BEGIN KEY-----"):
        path.write_text(bad)
        with pytest.raises(KeyFileError, match="does not hold one AES-128 key"):
            load_issuer_key(path)
    path.write_bytes(b"\xff" * 32)
    with pytest.raises(KeyFileError, match="does not hold one AES-128 key"):
        load_issuer_key(path)
    with pytest.raises(KeyFileError, match="does not exist"):
        load_issuer_key(tmp_path / "missing.key")


def test_reader_refuses_a_bad_issuer_key_option() -> None:
    with pytest.raises(DriverInitializationError, match="16 bytes"):
        PcscReader(reader_id="r", device="", on_event=lambda e: None,
                   options={"issuer_key": b"short"})


# -- the real stack -----------------------------------------------------------------------
def _missing_stack() -> str | None:
    for tool in ("pcscd", "unshare", "nsenter", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs pcscd and vpcd)"
    if not VPCD_LIB.exists():
        return f"{VPCD_LIB} is missing: vsmartcard-vpcd is not installed"
    return None


def _free_port_pair() -> int:
    """A TCP port p with p and p + 1 free (vpcd listens on one port per slot)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two adjacent free TCP ports")


def _wait(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class PrivatePcscd:
    """A pcscd with one vpcd reader in a mount namespace of its own (recipe above)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port_pair()
        self.conf = workdir / "reader.conf.d"
        self.conf.mkdir()
        (self.conf / "vpcd").write_text(
            'FRIENDLYNAME "Test VPCD"\n'
            f"DEVICENAME /dev/null:0x{self.port:04X}\n"
            f"LIBPATH {VPCD_LIB}\n"
            f"CHANNELID 0x{self.port:04X}\n")
        self.log = workdir / "pcscd.log"
        self.holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "mkdir -p /run/pcscd && mount -t tmpfs tmpfs /run/pcscd && echo ready "
             "&& exec cat >/dev/null"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != b"ready":
            self.holder.wait(5)
            err = self.holder.stderr.read().decode() if self.holder.stderr else ""
            raise RuntimeError(f"cannot make a private /run/pcscd: {err.strip()}")
        self.pcscd: subprocess.Popen[bytes] | None = None
        self.start()

    def nsenter(self, *argv: str, wd: str = "/") -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", f"--wd={wd}",
                "setpriv", "--pdeathsig", "TERM", *argv]

    @property
    def running(self) -> bool:
        return self.pcscd is not None and self.pcscd.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.pcscd = subprocess.Popen(self.nsenter("pcscd", "-f", "-c", str(self.conf)),
                                          stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        run = Path(f"/proc/{self.holder.pid}/root/run/pcscd")

        def up() -> bool:
            with contextlib.suppress(OSError):
                pid = (run / "pcscd.pid").read_text().strip("\x00 \n")  # pcscd writes a NUL
                return pid == str(self.pcscd.pid if self.pcscd else "") and \
                    (run / "pcscd.comm").exists()
            return False

        if not _wait(up, 10):
            raise RuntimeError(f"pcscd did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        proc, self.pcscd = self.pcscd, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        self.stop()
        if self.holder.stdin is not None:
            self.holder.stdin.close()
        try:
            self.holder.wait(5)
        except subprocess.TimeoutExpired:
            self.holder.kill()
            self.holder.wait(5)
        for stream in (self.holder.stdout, self.holder.stderr):
            if stream is not None:
                stream.close()


class ReaderProcess:
    """tests/drivers/pcsc_helper.py in the pcscd's namespace; its JSON lines as a queue."""

    def __init__(self, pcscd: PrivatePcscd, workdir: Path, key: bytes | None,
                 device: str = "Test VPCD") -> None:
        self.stderr_path = workdir / f"reader-{time.monotonic_ns()}.log"
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "tests.drivers.pcsc_helper", "--device", device,
                "--key", key.hex() if key else "", "--reopen", "0.3"]
        self.proc = subprocess.Popen(pcscd.nsenter(*argv, wd=str(ROOT)), env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.state = ""
        self.present = False
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.messages.put(json.loads(line))

    def _explain(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool],
                 timeout: float = WAIT) -> dict[str, Any]:
        """The next message matching ``wanted`` (others are consumed, tracked if state)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                msg = self.messages.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"timed out; reader log:\n{self._explain()}") from None
            if msg["type"] == "state":
                self.state = msg["state"]
            elif msg["type"] == "slot":
                self.present = msg["present"]
            if wanted(msg):
                return msg

    def next_event(self, timeout: float = WAIT) -> dict[str, Any]:
        return self.wait_for(lambda m: m["type"] in ("read", "failure"), timeout)

    def wait_state(self, state: str, timeout: float = WAIT) -> dict[str, Any]:
        return self.wait_for(lambda m: m["type"] == "state" and m["state"] == state, timeout)

    def wait_slot(self, present: bool, timeout: float = WAIT) -> None:
        if self.present != present:
            self.wait_for(lambda m: m["type"] == "slot" and m["present"] == present, timeout)

    def assert_quiet(self, seconds: float) -> None:
        """No read or failure within ``seconds`` (state and slot messages allowed)."""
        with contextlib.suppress(AssertionError):
            msg = self.next_event(timeout=seconds)
            raise AssertionError(f"unexpected event {msg}")

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._pump.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


class Rig:
    """Readers and cards of one test, all cleaned up after it."""

    def __init__(self, pcscd: PrivatePcscd, workdir: Path) -> None:
        self.pcscd, self.workdir = pcscd, workdir
        self.readers: list[ReaderProcess] = []
        self.cards: list[VirtualCard] = []

    def reader(self, key: bytes | None = MASTER, *, empty: bool = True) -> ReaderProcess:
        """A reader process, ready (and its slot seen empty unless ``empty`` is False)."""
        proc = ReaderProcess(self.pcscd, self.workdir, key)
        self.readers.append(proc)
        proc.wait_state("ready")
        if empty:
            proc.wait_slot(False)
        return proc

    def card(self, pan: str = PAN, **kwargs: Any) -> VirtualCard:
        if "card_key" not in kwargs:
            kwargs.setdefault("master_key", MASTER)
        card = VirtualCard(port=self.pcscd.port, pan=pan, **kwargs)
        self.cards.append(card)
        return card

    def close(self) -> None:
        for card in self.cards:
            card.remove()
        for proc in self.readers:
            # Leave the slot empty for the next test: pcscd notices a removal in ~0.4 s.
            with contextlib.suppress(AssertionError):
                if self.pcscd.running and proc.proc.poll() is None:
                    proc.wait_slot(False, timeout=3)
            proc.close()


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePcscd]:
    missing = _missing_stack()
    if missing:
        pytest.skip(missing)
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"))
    try:
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def rig(pcscd: PrivatePcscd, tmp_path: Path) -> Iterator[Rig]:
    if not pcscd.running:  # an earlier test stopped it and failed before restarting
        pcscd.start()
    r = Rig(pcscd, tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_genuine_card_is_read_and_verified_once_per_insertion(rig: Rig) -> None:
    reader = rig.reader()
    card = rig.card(holder="VOLGA LOGISTICS", card_id="C-7")
    card.insert()
    event = reader.next_event()
    assert event["type"] == "read", event
    assert event["identifier"] == PAN
    assert event["verified"] is True
    assert event["details"]["card_id"] == "C-7"
    assert event["details"]["expiry"] == "2028-12-31"
    assert event["details"]["holder"] == "VOLGA LOGISTICS"
    assert event["details"]["atr"] == "3B80800101"
    assert [a[1] for a in card.apdus] == [0xA4, 0xB0, 0x88]
    reader.assert_quiet(0.8)  # the card stays in: no second read
    card.remove()
    reader.wait_slot(False)
    card.insert()  # the same card again, within the debounce time: a new presentation
    again = reader.next_event()
    assert again["type"] == "read" and again["identifier"] == PAN


def test_cloned_card_is_not_genuine(rig: Rig) -> None:
    reader = rig.reader()
    rig.card(card_key=os.urandom(16)).insert()  # right PAN, key not from the master
    event = reader.next_event()
    assert event["type"] == "failure", event
    assert event["reason"] == "card_not_genuine"
    assert "cloned" in event["message"]
    assert event["raw"] == PAN


def test_no_issuer_key_refuses_every_card(rig: Rig) -> None:
    reader = rig.reader(key=None)
    card = rig.card()
    card.insert()
    event = reader.next_event()
    assert event["reason"] == "card_not_genuine"
    assert "no usable issuer key is configured" in event["message"]
    assert [a[1] for a in card.apdus] == [0xA4, 0xB0]  # no challenge without a key


def test_card_pulled_mid_read_is_unreadable_and_reader_goes_on(rig: Rig) -> None:
    reader = rig.reader()
    pulled = rig.card(pan="7800001234567890")
    pulled.pull_on = "read"
    pulled.insert()
    event = reader.next_event()
    assert event["type"] == "failure", event
    assert event["reason"] == "card_unreadable"
    assert "READ BINARY" in event["message"] and "pulled" in event["message"]
    assert pulled.wait_removed()
    reader.wait_slot(False)
    pulled.pull_on = "auth"  # pulled while answering the challenge
    pulled.insert()
    event = reader.next_event()
    assert event["reason"] == "card_unreadable"
    assert "INTERNAL AUTHENTICATE" in event["message"]
    assert event["raw"] == "7800001234567890"
    reader.wait_slot(False)
    good = rig.card()
    good.insert()
    assert reader.next_event()["type"] == "read"
    assert reader.state == "ready"


def garble(card: VirtualCard, command: str, answer: bytes) -> None:
    card.garbage_on, card.garbage = command, answer


@pytest.mark.parametrize("setup,reason,message", [
    (lambda c: setattr(c, "select_sw", 0x6A82), "card_unreadable",
     "does not hold the forecourt fuel-card application (SELECT answered 6A82)"),
    (lambda c: setattr(c, "select_sw", 0x6985), "card_unreadable",
     "refused SELECT of the fuel-card application with 6985"),
    (lambda c: setattr(c, "file", bytes.fromhex("700A5A08780000123456")), "card_unreadable",
     "shorter than its 70 template says"),
    (lambda c: setattr(c, "file", bytes.fromhex("6F00")), "card_unreadable",
     "does not start with the 70 template"),
    (lambda c: setattr(c, "auth_sw", 0x6983), "card_not_genuine",
     "refused the challenge with 6983"),
    (lambda c: garble(c, "select", b"\x42"), "card_unreadable",
     "answered SELECT with 1 byte(s), too short for a status word"),
    (lambda c: garble(c, "select", bytes.fromhex("DEADBEEF1337")), "card_unreadable",
     "refused SELECT of the fuel-card application with 1337 (unknown status)"),
    (lambda c: garble(c, "read", bytes.fromhex("5A0A12349000")), "card_unreadable",
     "does not start with the 70 template"),
    (lambda c: garble(c, "auth", bytes.fromhex("0102039000")), "card_not_genuine",
     "answered the challenge with 3 bytes instead of a 16-byte MAC"),
    (lambda c: garble(c, "auth", os.urandom(16) + b"\x90\x00"), "card_not_genuine",
     "answer to the challenge is wrong"),
])
def test_bad_answers_give_a_reason_never_a_crash(rig: Rig, setup: Callable[[Any], None],
                                                 reason: str, message: str) -> None:
    reader = rig.reader()
    card = rig.card()
    setup(card)
    card.insert()
    event = reader.next_event()
    assert event["type"] == "failure", event
    assert event["reason"] == reason
    assert message in event["message"]
    assert reader.state == "ready"


def test_card_already_in_the_slot_is_read_when_the_reader_opens(rig: Rig) -> None:
    card = rig.card()
    card.insert()
    time.sleep(0.6)  # pcscd notices the card (it polls the slot) before the reader opens
    reader = rig.reader(empty=False)
    event = reader.next_event()
    assert event["type"] == "read" and event["identifier"] == PAN
    reader.assert_quiet(0.5)


def test_unknown_reader_name_fails_with_a_sentence(rig: Rig) -> None:
    proc = ReaderProcess(rig.pcscd, rig.workdir, MASTER, device="Acme CCID")
    rig.readers.append(proc)
    failed = proc.wait_state("failed")
    assert failed["error"] == ("no PC/SC reader named 'Acme CCID'* is connected "
                               "(readers: 'Test VPCD 00 00', 'Test VPCD 00 01')")


def test_pcscd_stopped_then_restarted(rig: Rig) -> None:
    reader = rig.reader()
    card = rig.card()
    card.insert()
    assert reader.next_event()["type"] == "read"
    rig.pcscd.stop()
    failed = reader.wait_state("failed")
    assert failed["error"]
    assert card.wait_removed()  # pcscd gone: the card's connection closed
    rig.pcscd.start()
    reader.wait_state("ready")
    reader.wait_slot(False)
    card.insert()
    event = reader.next_event()
    assert event["type"] == "read" and event["verified"] is True
