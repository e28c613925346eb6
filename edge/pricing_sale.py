"""A sale's pricing at the station: vouchers and points at authorization, money at completion.

The decisions are core.rules.pricing's (preset_price, price_sale); this module carries
what the authorization recorded (list prices, facts, voucher, points asked: the
``pricing`` column of ``authorizations``) to the completion, and pays the priced
sale from the card's wallets. docs/pricing.md and docs/sale-lifecycle.md say why.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from core import bounds as B
from core.formats.pricing_line import basis_doc, line_doc, parse_basis
from core.formats.vouchers import VoucherBatch
from core.reasons import Reason
from core.rules.authorization import Wallet, draw, usable_wallets
from core.rules.conditions import Facts
from core.rules.pricing import Priced, PricingRules, Voucher, preset_price, price_sale
from core.vouchers import VoucherError, check, read_code
from edge.pricing_facts import wallet_ml

#: What ``--points all`` asks for: every point available.
ALL_POINTS = B.MAX_SAFE_INT
#: Ids of the wallets a voucher and points lend the engine (a wallet-capped card may buy
#: what they pay for too); no stored wallet id holds a control character.
VOUCHER_WALLET = "\x00voucher"
POINTS_WALLET = "\x00points"
SYNTHETIC = frozenset({VOUCHER_WALLET, POINTS_WALLET})


def verify_voucher(rules: PricingRules | None, text: str, now: datetime
                   ) -> tuple[VoucherBatch, str]:
    """The batch and serial of a genuine voucher valid now; VoucherError if not."""
    return check({} if rules is None else rules.batches(), text, now)


def voucher_label(text: str) -> str:
    """What a refused voucher is recorded as: V + its serial when it has one, else ``?``."""
    try:
        digits = read_code(text)
    except VoucherError:
        return "?"
    return "V" + digits[:12]


def voucher_doc(voucher: Voucher) -> dict[str, Any]:
    return {"serial": voucher.serial, "product": voucher.product,
            "volume_ml": voucher.volume_ml, "amount": voucher.amount}


def product_refusal(voucher: Voucher, asked: str | None, card_products: list[str] | None
                    ) -> tuple[Reason, str] | None:
    """Why the voucher cannot pay this sale's product (reason, sentence), or None."""
    if voucher.product is None:
        return None
    if asked is not None and asked != voucher.product:
        return (Reason.VOUCHER_PRODUCT, f"voucher {voucher.serial} buys {voucher.product}, "
                                        f"not {asked}")
    if card_products is not None and voucher.product not in card_products:
        return (Reason.VOUCHER_PRODUCT, f"voucher {voucher.serial} buys {voucher.product}, "
                                        "which the card may not take")
    return None


def lent_wallets(voucher: Voucher | None, points_money: int) -> tuple[Wallet, ...]:
    """The voucher and the points asked, as wallets the engine may count on."""
    out = []
    if voucher is not None:
        products = None if voucher.product is None else frozenset({voucher.product})
        if voucher.volume_ml is not None:
            out.append(Wallet(VOUCHER_WALLET, "volume", voucher.volume_ml, products))
        elif voucher.amount is not None:
            out.append(Wallet(VOUCHER_WALLET, "money", voucher.amount, products))
    if points_money > 0:
        out.append(Wallet(POINTS_WALLET, "money", points_money))
    return tuple(out)


def preset_prices(rules: PricingRules, prices: dict[str, int], facts: Facts) -> dict[str, int]:
    """Each product's price per litre for the preset (discounts that apply whatever
    the volume), so money limits and money wallets buy more litres."""
    return {p: preset_price(rules, p, price, facts) for p, price in prices.items()}


def authorization_doc(rules: PricingRules, facts: Facts, presets: dict[str, int], *,
                      products: tuple[str, ...], voucher: Voucher | None,
                      points_asked: int) -> dict[str, Any]:
    """What the authorization priced from (the ``pricing`` column), used at completion."""
    return {"revision": rules.revision, "basis": basis_doc(facts),
            "preset_prices": {p: presets[p] for p in products},
            "voucher": None if voucher is None else voucher_doc(voucher),
            "points_asked": points_asked}


@dataclass(frozen=True)
class PricedSale:
    """A completed sale's money: the line's amount, the wallets' debits and shortfall,
    and the journal line's ``pricing`` field (None when no rule applied)."""

    amount: int
    debits: dict[str, int]
    shortfall: int
    priced: Priced
    line: dict[str, Any] | None
    points_asked: int


def price_completion(rules: PricingRules | None, recorded: dict[str, Any], *,
                     station_id: str, product: str, volume_ml: int, unit_price: int,
                     wallets: list[Wallet], today: date) -> PricedSale | None:
    """Price the delivered volume with the facts and voucher the authorization recorded
    and the litres the card's wallets hold now; None when no rule applied (no
    discount, no voucher, no points: the sale is paid as without rules)."""
    facts = parse_basis(recorded["basis"], station_id)
    facts = replace(facts, wallet_ml=wallet_ml(wallets, product, today))
    v = recorded.get("voucher")
    voucher = None if v is None else Voucher(**v)
    asked = int(recorded.get("points_asked", 0))
    rules = rules if rules is not None else PricingRules()
    priced = price_sale(rules, product=product, volume_ml=volume_ml, unit_price=unit_price,
                        facts=facts, voucher=voucher, points_asked=asked)
    if not (priced.discounts or priced.voucher or priced.points_burned
            or priced.points_earned):
        return None
    debits, short = plan_priced_debits(wallets, product, priced, today)
    return PricedSale(priced.amount, debits, short, priced,
                      line_doc(rules.revision, priced, asked, facts), asked)


def plan_priced_debits(wallets: list[Wallet], product: str, priced: Priced, today: date
                       ) -> tuple[dict[str, int], int]:
    """Litre wallets pay ``priced.wallet_ml``, money wallets ``priced.money_due`` (each
    in usable order: earliest expiry first); the shortfall is the money they cannot
    pay (0 for a card without wallets, which pays on account)."""
    if not wallets:
        return {}, 0
    usable = usable_wallets(wallets, product, today)
    debits: dict[str, int] = {}
    draw(usable, "volume", priced.wallet_ml, debits)
    return debits, draw(usable, "money", priced.money_due, debits)


def summary(priced: Priced, points_asked: int) -> dict[str, Any]:
    """The priced parts a completion and the journal list show (the same keys as
    edge.pricing_display.line_summary makes of a journal line)."""
    from edge.pricing_display import line_summary

    return line_summary({**{f.name: getattr(priced, f.name) for f in fields(Priced)},
                         "points_asked": points_asked})
