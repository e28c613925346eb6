"""The console's pricing forms: what a clerk types, turned into the rule objects the
pricing document carries (docs/pricing.md) exactly as ``forecourt office discounts add``
and ``forecourt office loyalty ...`` build them.

A clerk types clerk units — a percent ("2.5"), litres ("30"), money ("1.50") — and
they become integers exactly (basis points, millilitres, minor units); anything that
does not convert exactly is refused with one sentence naming the field. The rule
itself is then checked by office.pricing.rules as stations will read it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.cards import CARD_KINDS
from core.formats.pricing import DISCOUNT_KINDS
from core.formats.snapshot import DAYS, POINTS_PERIODS
from office.console.forms import millilitres, minor_units
from office.customers.errors import RecordRefused

_DATE = forms.DateInput(attrs={"type": "date"})
_LISTS = ("products", "stations", "station_groups", "card_kinds", "categories", "groups",
          "tiers")


def _names(text: str) -> list[str]:
    return [n.strip() for n in re.split(r"[,\s]+", text) if n.strip()]


def percent_bp(text: str, field: str) -> int:
    """"2.5" percent -> 250 basis points; from 0.01 to 100, at most two decimals."""
    try:
        value = minor_units(text, 2, field)
    except RecordRefused as exc:
        if "decimals" in str(exc):
            raise
        raise RecordRefused(f"{field} must be a percentage such as 2.5, got {text!r}",
                            field=field) from None
    if value is None or not 0 < value <= 10_000:
        raise RecordRefused(f"{field} must be a percentage from 0.01 to 100, got {text!r}",
                            field=field)
    return value


def positive(value: int | None, text: str, field: str, what: str) -> int:
    if value is None or value <= 0:
        raise RecordRefused(f"{field} must be {what} above zero, got {text!r}", field=field)
    return value


class ConditionsForm(forms.Form):
    """The conditions a rule may carry (all optional; all must hold), as the CLI's
    condition options."""

    products = forms.CharField(label=_("Products"), required=False,
                               help_text=_("Codes separated by commas."))
    stations = forms.CharField(label=_("Stations"), required=False)
    station_groups = forms.CharField(label=_("Station groups"), required=False)
    valid_from = forms.DateField(label=_("First day"), required=False, widget=_DATE)
    valid_until = forms.DateField(label=_("Last day"), required=False, widget=_DATE)
    days = forms.MultipleChoiceField(label=_("Weekdays"), required=False,
                                     choices=[(d, d) for d in DAYS],
                                     widget=forms.CheckboxSelectMultiple)
    hours = forms.CharField(label=_("Hours"), required=False, max_length=16,
                            help_text=_("Local FROM-TO, e.g. 22:00-06:00."))
    holidays = forms.BooleanField(label=_("Only on holidays"), required=False)
    card_kinds = forms.CharField(label=_("Card kinds"), required=False,
                                 help_text=", ".join(CARD_KINDS))
    categories = forms.CharField(label=_("Customer categories"), required=False)
    groups = forms.CharField(label=_("Customer groups"), required=False)
    tiers = forms.CharField(label=_("Tiers"), required=False)
    min_fill = forms.CharField(label=_("From a fill of, litres"), required=False)
    consumption_month = forms.ChoiceField(label=_("Consumption in"), required=False,
                                          choices=[("", "—"), ("this", _("this month")),
                                                   ("last", _("last month"))])
    consumption_unit = forms.ChoiceField(label=_("Consumption unit"), required=False,
                                         choices=[("volume", _("litres")),
                                                  ("money", _("money"))])
    consumption_at_least = forms.CharField(label=_("Consumption at least"), required=False)
    birthday_days = forms.IntegerField(label=_("Days around the birthday"), required=False,
                                       min_value=0, max_value=183)
    min_fills = forms.IntegerField(label=_("From the n-th fill of the month"),
                                   required=False, min_value=1)
    stackable = forms.BooleanField(label=_("Stackable"), required=False,
                                   help_text=_("Adds to the best single rule."))
    order = forms.IntegerField(label=_("Order"), required=False, min_value=0, initial=0)
    rule_id = forms.CharField(label=_("Rule id"), required=False, max_length=40,
                              help_text=_("Empty: the next free one."))

    def when(self, decimals: int) -> dict[str, Any]:
        """The rule's ``when`` object (refusals: RecordRefused naming the field)."""
        values = self.cleaned_data
        when: dict[str, Any] = {}
        for key in _LISTS:
            names = _names(str(values[key] or ""))
            if names:
                when[key] = names
        for key in ("valid_from", "valid_until"):
            day: date | None = values[key]
            if day is not None:
                when[key] = day.isoformat()
        if values["days"]:
            when["days"] = [d for d in DAYS if d in values["days"]]
        hours = str(values["hours"] or "").strip()
        if hours:
            parts = hours.replace("–", "-").split("-")
            if len(parts) != 2:
                raise RecordRefused(f"hours must be FROM-TO, e.g. 22:00-06:00, got {hours!r}",
                                    field="hours")
            when["hours"] = {"from": parts[0].strip(), "to": parts[1].strip()}
        if values["holidays"]:
            when["holidays"] = True
        text = str(values["min_fill"] or "")
        if text.strip():
            when["min_fill_ml"] = positive(millilitres(text, "min_fill"), text, "min_fill",
                                           "litres")
        month = values["consumption_month"]
        text = str(values["consumption_at_least"] or "")
        if month:
            unit = values["consumption_unit"] or "volume"
            at_least = (millilitres(text, "consumption_at_least") if unit == "volume"
                        else minor_units(text, decimals, "consumption_at_least"))
            when["consumption"] = {"month": month, "unit": unit, "at_least": positive(
                at_least, text, "consumption_at_least", "an amount")}
        elif text.strip():
            raise RecordRefused("consumption_at_least needs the month (this or last)",
                                field="consumption_month")
        for key in ("birthday_days", "min_fills"):
            if values[key] is not None:
                when[key] = values[key]
        return when

    def rule(self, decimals: int, **fields: Any) -> dict[str, Any]:
        """The rule object: ``fields`` (None left out), its conditions and ordering."""
        rule: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        when = self.when(decimals)
        if when:
            rule["when"] = when
        values = self.cleaned_data
        if values["stackable"]:
            rule["stackable"] = True
        if values["order"]:
            rule["order"] = values["order"]
        if str(values["rule_id"] or "").strip():
            rule["rule_id"] = str(values["rule_id"]).strip()
        return rule


class DiscountForm(ConditionsForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=[(k, k) for k in DISCOUNT_KINDS])
    percent = forms.CharField(label=_("Percent off"), required=False, max_length=16,
                              help_text=_("e.g. 3 or 2.5"))
    per_litre = forms.CharField(label=_("Money off a litre"), required=False, max_length=32)
    name = forms.CharField(label=_("Name"), required=False, max_length=80,
                           help_text=_("What a receipt calls it."))
    field_order = ("kind", "percent", "per_litre", "name")

    def discount(self, decimals: int) -> dict[str, Any]:
        values = self.cleaned_data
        percent, per_litre = str(values["percent"] or ""), str(values["per_litre"] or "")
        if bool(percent.strip()) == bool(per_litre.strip()):
            raise RecordRefused("give exactly one of a percent and money off a litre",
                                field="percent")
        bp = percent_bp(percent, "percent") if percent.strip() else None
        off = (positive(minor_units(per_litre, decimals, "per_litre"), per_litre,
                        "per_litre", "an amount") if per_litre.strip() else None)
        return self.rule(decimals, kind=values["kind"], name=values["name"] or None,
                         percent_bp=bp, per_litre=off)


class EarnForm(ConditionsForm):
    basis = forms.ChoiceField(label=_("Basis"), choices=[("volume", _("litres")),
                                                         ("amount", _("money paid"))])
    points = forms.IntegerField(label=_("Points"), min_value=1)
    per = forms.CharField(label=_("Per (litres or money)"), max_length=32,
                          help_text=_("e.g. 1 (litre) or 100.00 (money)"))
    field_order = ("basis", "points", "per")

    def earn(self, decimals: int) -> dict[str, Any]:
        values = self.cleaned_data
        text = str(values["per"])
        per = (millilitres(text, "per") if values["basis"] == "volume"
               else minor_units(text, decimals, "per"))
        return self.rule(decimals, basis=values["basis"], points=values["points"],
                         per=positive(per, text, "per", "an amount"))


class MultiplierForm(ConditionsForm):
    percent = forms.IntegerField(label=_("Points, percent"), min_value=0, max_value=10_000,
                                 help_text=_("200 doubles the points."))
    field_order = ("percent",)

    def multiplier(self, decimals: int) -> dict[str, Any]:
        return self.rule(decimals, percent=self.cleaned_data["percent"])


class SettingForm(forms.Form):
    """A form of one programme setting; :meth:`value` is what the setting stores."""

    def value(self, decimals: int) -> Any:
        raise NotImplementedError


class LoyaltyForm(SettingForm):
    point_value = forms.CharField(label=_("A point pays"), max_length=32)
    expiry_days = forms.IntegerField(label=_("Points expire after, days"), min_value=1,
                                     max_value=36_600)

    def value(self, decimals: int) -> dict[str, Any]:
        text = str(self.cleaned_data["point_value"])
        return {"point_value": positive(minor_units(text, decimals, "point_value"), text,
                                        "point_value", "an amount"),
                "expiry_days": self.cleaned_data["expiry_days"]}


class TiersForm(SettingForm):
    tiers = forms.CharField(label=_("Tiers"), required=False,
                            widget=forms.Textarea(attrs={"rows": 3}),
                            help_text=_("One a line: name, litres last month, points "
                                        "percent (e.g. gold 500 150). Empty: no tiers."))

    def value(self, decimals: int) -> list[dict[str, Any]]:  # noqa: ARG002
        out = []
        for line in str(self.cleaned_data["tiers"] or "").splitlines():
            parts = _names(line)
            if not parts:
                continue
            if len(parts) not in (2, 3) or (len(parts) == 3 and not parts[2].isdigit()):
                raise RecordRefused(f"tiers: {line.strip()!r} is not NAME LITRES [PERCENT]",
                                    field="tiers")
            at_least = millilitres(parts[1], "tiers")
            if at_least is None or at_least < 0:
                raise RecordRefused(f"tiers: {parts[1]!r} is not litres", field="tiers")
            out.append({"name": parts[0], "at_least_ml": at_least,
                        "percent": int(parts[2]) if len(parts) == 3 else 100})
        return out


class CapsForm(SettingForm):
    day = forms.IntegerField(label=_("Points a day"), required=False, min_value=0)
    week = forms.IntegerField(label=_("Points a week"), required=False, min_value=0)
    month = forms.IntegerField(label=_("Points a month"), required=False, min_value=0)

    def value(self, decimals: int) -> list[dict[str, Any]]:  # noqa: ARG002
        return [{"period": p, "points": self.cleaned_data[p]} for p in POINTS_PERIODS
                if self.cleaned_data[p] is not None]


class HolidaysForm(SettingForm):
    holidays = forms.CharField(label=_("Holidays"), required=False,
                               widget=forms.Textarea(attrs={"rows": 3}),
                               help_text=_("Dates YYYY-MM-DD separated by spaces or lines."))

    def value(self, decimals: int) -> list[str]:  # noqa: ARG002
        out = set()
        for text in _names(str(self.cleaned_data["holidays"] or "")):
            try:
                out.add(date.fromisoformat(text).isoformat())
            except ValueError:
                raise RecordRefused(f"holidays: {text!r} is not a date YYYY-MM-DD",
                                    field="holidays") from None
        return sorted(out)


class AdjustForm(forms.Form):
    points = forms.IntegerField(label=_("Points (negative takes)"))
    reason = forms.CharField(label=_("Reason"), max_length=200)


class VoidForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
