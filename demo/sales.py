"""Driving the sales: the customers at the two pumps, and the office's QR tokens.

Each pump has a thread playing its customers one after another: present the card at
the pump's reader (swipe, NFC tag or QR token), wait for the station's decision and
for the pump to be released, lift the nozzle (``lift P N`` on the pump simulator's
console), let the fuel flow to the sale's target, hang up, and wait for the sale to be
durable in the journal. The two pumps run side by side, as on a real forecourt.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from datetime import date

from demo.cards import MAGSTRIPE, NFC, QR, card_expiry, swipe_text
from demo.children import Child
from demo.commands import Forecourt
from demo.errors import DemoError
from demo.peers import Peers
from demo.sale import Sale
from demo.view import LiveView

#: How long a QR token stays valid (the office's limit is [office] token_max_valid).
TOKEN_VALID = "30m"
#: Generous bounds for each wait: the machine may be busy.
READ_WAIT_S = 60.0
COMPLETE_WAIT_S = 90.0


class PumpConsole:
    """The pump simulator's console (``forecourt sim pumps`` stdin), shared by the pumps."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self._lock = threading.Lock()

    def command(self, text: str) -> None:
        stdin = self.child.stdin
        if stdin is None:
            raise DemoError("the pump simulator has no console")
        with self._lock:
            try:
                stdin.write(text + "\n")
                stdin.flush()
            except OSError:
                self.child.check()
                raise DemoError("the pump simulator's console is closed") from None


class TokenDesk:
    """The office issuing QR tokens, ahead of the sales that need them, in a thread.

    A token is used once (the station records its nonce), so each QR sale gets its own,
    from ``forecourt office cards token``: what the customer's phone app would fetch.
    """

    def __init__(self, fc: Forecourt, cards: Iterable[str]) -> None:
        self.fc = fc
        self.wanted = list(cards)
        self.tokens: dict[str, queue.Queue[str]] = {c: queue.Queue() for c in self.wanted}
        self.error: DemoError | None = None
        self._thread = threading.Thread(target=self._run, name="demo-tokens", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for card in self.wanted:
                token = self.fc.run(f"the office's QR token for card {card}", "office", "cards",
                                    "token", card, "--valid", TOKEN_VALID).strip()
                self.tokens[card].put(token)
        except DemoError as exc:
            self.error = exc

    def take(self, card: str, stopping: threading.Event, timeout: float = 300.0) -> str:
        waited = 0.0
        while True:
            try:
                return self.tokens[card].get(timeout=0.5)
            except queue.Empty:
                waited += 0.5
                if self.error is not None:
                    raise self.error from None
                if stopping.is_set():
                    raise DemoError("the demo is stopping") from None
                if waited >= timeout:
                    raise DemoError(f"the office issued no QR token for card {card} within "
                                    f"{timeout:.0f} s") from None


class Customers:
    """One thread per pump, each driving that pump's sales in order."""

    def __init__(self, sales: list[Sale], view: LiveView, peers: Peers, *,
                 pumps: PumpConsole, tokens: TokenDesk, today: date,
                 flow_ml_s: int) -> None:
        self.sales = sales
        self.flow_ml_s = flow_ml_s
        self.view = view
        self.peers = peers
        self.pumps = pumps
        self.tokens = tokens
        self.today = today
        self.errors: list[DemoError] = []
        self.stopping = threading.Event()
        self._threads = [threading.Thread(target=self._pump, args=(pump,), daemon=True,
                                          name=f"demo-pump-{pump}")
                         for pump in sorted({s.pump for s in sales})]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True once every pump has finished its sales."""
        for thread in self._threads:
            thread.join(timeout)
        if self.errors:
            raise self.errors[0]
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(5)

    def _pump(self, pump: int) -> None:
        try:
            for sale in self.sales:
                if sale.pump == pump and not self.stopping.is_set():
                    self.drive(sale)
        except DemoError as exc:
            if not self.stopping.is_set():
                self.errors.append(exc)

    def drive(self, sale: Sale) -> None:
        """One customer: card, decision, nozzle, fuel, hang up, durable sale."""
        view, n = self.view, sale.number
        self._present(sale)
        try:
            view.wait_for(lambda: sale.sale_id is not None or sale.refused is not None,
                          f"the station's decision on the card of sale {n}", READ_WAIT_S)
        finally:
            if sale.kind is NFC:
                self.peers.nfc[sale.reader].take_away()
        if sale.refused is not None:
            raise DemoError(f"sale {n}: the station refused the {sale.kind.label} of card "
                            f"{sale.card} ({sale.refused})")
        view.wait_for(lambda: view.pump_row(sale.pump).get("state") == "AUTHORIZED"
                      and view.pump_row(sale.pump).get("sale_id") == sale.sale_id,
                      f"pump {sale.pump} authorized for sale {n}", READ_WAIT_S)
        self.pumps.command(f"lift {sale.pump} {sale.nozzle}")
        view.wait_for(lambda: sale.filling, f"fuel flowing at pump {sale.pump} for sale {n}",
                      READ_WAIT_S)
        # The pump reports its filled volume when the fill ends (DC2), so the customer
        # goes by time: the target at the simulator's flow rate.
        if self.stopping.wait(sale.target_ml / self.flow_ml_s):
            return
        self.pumps.command(f"hang {sale.pump}")
        view.wait_for(lambda: sale.seq is not None,
                      f"sale {n} completed in the station's journal", COMPLETE_WAIT_S)

    def _present(self, sale: Sale) -> None:
        self.view.presented(sale)
        if sale.kind is MAGSTRIPE:
            self.peers.serial[sale.reader].send(swipe_text(sale.card, card_expiry(self.today)))
        elif sale.kind is QR:
            self.peers.serial[sale.reader].send(self.tokens.take(sale.card, self.stopping))
        else:
            self.peers.nfc[sale.reader].present()
