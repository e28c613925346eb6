"""Product codes a card names must be products the card store sells (issue 10 #9).

A limit scoped to a product the store does not have silently stops limiting; a
card or wallet restricted to one silently allows nothing, or less than meant. So a
snapshot whose cards name a product outside its ``products`` is refused whole, naming
the field and the code (the station's check of a delta against its store is
``offline_db.refs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from core.errors import CardStoreFormatError

if TYPE_CHECKING:
    from core.formats.snapshot import CardSpec


def product_refs(card: CardSpec) -> Iterator[tuple[str, str]]:
    """(field path below the card, product code) of every product the card names."""
    for k, code in enumerate(card.products or ()):
        yield f"products[{k}]", code
    for j, limit in enumerate(card.limits):
        for k, code in enumerate(limit.products or ()):
            yield f"limits[{j}].products[{k}]", code
    for j, wallet in enumerate(card.wallets):
        for k, code in enumerate(wallet.products or ()):
            yield f"wallets[{j}].products[{k}]", code


def check_card_products(card: CardSpec, known: Iterable[str], where: str) -> None:
    """Refuse the card if it names a product code that is not in ``known``."""
    known_set = known if isinstance(known, (set, frozenset)) else set(known)
    for path, code in product_refs(card):
        if code not in known_set:
            raise CardStoreFormatError(
                f"{where}.{path} names an unknown product {code!r} (not in the card "
                "store's products)")
