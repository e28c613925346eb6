"""Rights per feature: view, add, change, delete and export (print/export).

A *feature* is what head-office staff see as one thing (the sales, the card master, the
audit trail); each is one Django model, so its view/add/change/delete rights are
Django's model permissions and ``export`` is the custom permission that model declares
in ``Meta.permissions``. ``FEATURE.RIGHT`` (``sales.export``, ``cards.change``) is how
the CLI and the docs name a right; :func:`perm` turns it into Django's
``app_label.codename``, which ``user.has_perm`` checks.

The default groups (made by migration ``access.0003_default_groups``, widened by
``0004_customer_rights``, ``0005_voucher_rights``, ``0006_pricing_rights``,
``0007_report_rights`` and ``0008_account_rights``; a user may be in several): viewers
see everything, operators also add and change customers, vehicles and cards,
accountants also export, top up wallets, issue vouchers and settle their double
redemptions, adjust points and void priced sales, record payments and adjustments on
customers' accounts, administrators may do everything. Staff groups are called *roles*
(``roles.*`` rights, ``forecourt office roles``), so that *groups* are the customer
groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import ForecourtError

RIGHTS = ("view", "add", "change", "delete", "export")


@dataclass(frozen=True)
class Feature:
    """One feature: the model whose permissions are its rights, and what it offers."""

    name: str
    app_label: str
    model: str  # Django's model_name (lower case)
    rights: tuple[str, ...]


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("stations", "ledger", "station", ("view", "add", "change", "delete")),
    Feature("sales", "ledger", "sale", ("view", "export")),
    Feature("cards", "cards", "cardmastercard", ("view", "add", "change", "delete",
                                                 "export")),
    Feature("quarantine", "ledger", "quarantine", ("view",)),
    Feature("refused", "ledger", "refusedmessage", ("view",)),
    Feature("audit", "access", "auditentry", ("view", "export")),
    Feature("customers", "customers", "customer", ("view", "add", "change", "delete",
                                                    "export")),
    Feature("vehicles", "customers", "vehicle", ("view", "add", "change", "delete", "export")),
    Feature("groups", "customers", "customergroup", ("view", "add", "change", "delete",
                                                     "export")),
    Feature("wallets", "cards", "wallet", ("view", "add", "change", "export")),
    Feature("vouchers", "vouchers", "voucherbatch", ("view", "add", "change")),
    Feature("pricing", "pricing", "pricingrule", ("view", "add", "change", "export")),
    Feature("points", "pricing", "pointsentry", ("view", "change", "export")),
    Feature("reports", "reports", "reportrun", ("view", "export")),
    Feature("accounts", "accounts", "accountentry", ("view", "add", "export")),
    Feature("users", "auth", "user", ("view", "add", "change", "delete")),
    Feature("roles", "auth", "group", ("view", "add", "change", "delete")),
)}

#: The groups every office starts with: name -> the FEATURE.RIGHT strings they hold.
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "viewers": tuple(f"{f}.view" for f in FEATURES),
    "operators": (*(f"{f}.view" for f in FEATURES), "cards.change", "cards.add",
                  "customers.add", "customers.change", "vehicles.add", "vehicles.change"),
    "accountants": (*(f"{f}.view" for f in FEATURES),
                    *(f"{f.name}.export" for f in FEATURES.values() if "export" in f.rights),
                    "wallets.add", "wallets.change", "vouchers.add", "vouchers.change",
                    "points.change", "accounts.add"),
    "administrators": tuple(f"{f.name}.{r}" for f in FEATURES.values() for r in f.rights),
}


class RightError(ForecourtError, ValueError):
    """A right named wrongly: an unknown feature, or a right that feature has not."""

    code = "bad_right"


def parse(text: str) -> tuple[Feature, str]:
    """``sales.export`` -> (the sales feature, ``"export"``); RightError otherwise."""
    name, dot, right = text.strip().partition(".")
    feature = FEATURES.get(name)
    if not dot or feature is None:
        raise RightError(f"{text!r} is not a right: write FEATURE.RIGHT, FEATURE one of "
                         f"{', '.join(FEATURES)} (e.g. sales.export, cards.change)")
    if right not in feature.rights:
        raise RightError(f"{name} has no right {right!r}; its rights are "
                         f"{', '.join(feature.rights)}")
    return feature, right


def codename(feature: Feature, right: str) -> str:
    """Django's permission codename: ``export_sale``, ``change_cardmastercard``."""
    return f"{right}_{feature.model}"


def perm(text: str) -> str:
    """``sales.export`` -> ``ledger.export_sale`` (for ``user.has_perm``)."""
    feature, right = parse(text)
    return f"{feature.app_label}.{codename(feature, right)}"


def name_of(app_label: str, code: str) -> str | None:
    """The FEATURE.RIGHT of a Django permission, or None if it is not one of ours."""
    right, _, model = code.partition("_")
    for feature in FEATURES.values():
        if (feature.app_label, feature.model) == (app_label, model) and right in feature.rights:
            return f"{feature.name}.{right}"
    return None


def has(user: Any, text: str) -> bool:
    """Whether ``user`` holds the right ``FEATURE.RIGHT`` (superusers hold all)."""
    return bool(user.has_perm(perm(text)))


def rights_of_permissions(perms: Iterable[tuple[str, str]]) -> list[str]:
    """FEATURE.RIGHT names of (app_label, codename) pairs, sorted, ours only."""
    return sorted(n for a, c in perms if (n := name_of(a, c)) is not None)


def permission_objects(apps: Any, names: Iterable[str]) -> list[Any]:
    """The Permission rows for FEATURE.RIGHT names (``apps``: a registry, historical or
    the global one). A missing row is an error: the rights are made by migrations."""
    permission = apps.get_model("auth", "Permission")
    out = []
    for text in names:
        feature, right = parse(text)
        out.append(permission.objects.get(content_type__app_label=feature.app_label,
                                          content_type__model=feature.model,
                                          codename=codename(feature, right)))
    return out
