"""Integer money arithmetic: the one rounding rule of forecourt.

Volumes are millilitres, money is minor units, a unit price is minor units per
litre. The amount of a sale is ``volume_ml * unit_price / 1000`` rounded half up to
the minor unit. Station and head office use these two functions and nothing else.
"""

from __future__ import annotations


def amount_for(volume_ml: int, unit_price: int) -> int:
    """Amount in minor units for ``volume_ml`` at ``unit_price`` per litre, half up."""
    if volume_ml < 0 or unit_price < 0:
        raise ValueError("volume and unit price must not be negative")
    return (volume_ml * unit_price + 500) // 1000


def max_volume_for(amount: int, unit_price: int) -> int:
    """The largest volume (ml) whose :func:`amount_for` does not exceed ``amount``.

    ``amount_for(v) <= a``  <=>  ``v * p + 500 < 1000 * (a + 1)``  <=>
    ``v <= (1000 * a + 499) // p``. A free product (price 0) is capped by ``amount``
    alone being non-negative, so it returns a very large volume.
    """
    if amount < 0:
        return 0
    if unit_price <= 0:
        return 10**12
    return (1000 * amount + 499) // unit_price
