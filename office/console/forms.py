"""The console's forms for customer records: plain fields, checked by the services.

The forms only gather text; the service that makes the change checks every value the
same way for the console, the CLI and a spreadsheet import, and its refusal (one
sentence naming the field) is shown on that field. Money is typed in the currency's
unit ("1,250.50") and handed on in minor units; volumes are typed in litres.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from office.customers.errors import RecordRefused

_DATE = forms.DateInput(attrs={"type": "date"})


def minor_units(text: str, decimals: int, field: str) -> int | None:
    """"1 250,50" / "1,250.50" -> 125050 (with 2 decimals); "" -> None."""
    clean = text.strip().replace(" ", "").replace("\u00a0", "")
    if not clean:
        return None
    if "," in clean and "." in clean:
        clean = clean.replace(",", "")
    clean = clean.replace(",", ".")
    try:
        value = Decimal(clean).scaleb(decimals)
    except InvalidOperation:
        raise RecordRefused(f"{field} must be an amount such as 1250.50, got {text!r}",
                            field=field) from None
    if value != value.to_integral_value():
        raise RecordRefused(f"{field} has more than {decimals} decimals", field=field)
    return int(value)


def millilitres(text: str, field: str) -> int | None:
    """"45.5" litres -> 45500 ml; "" -> None."""
    return minor_units(text, 3, field)


def refused_on(form: forms.Form, exc: RecordRefused) -> None:
    """Show a service's refusal on its field (or on the form)."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc))


class CustomerForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=[("person", _("person")),
                                                       ("company", _("company"))])
    name = forms.CharField(label=_("Name"), max_length=200)
    phones = forms.CharField(label=_("Phones"), required=False,
                             help_text=_("Several separated by commas."))
    emails = forms.CharField(label=_("E-mails"), required=False)
    addresses = forms.CharField(label=_("Addresses"), required=False,
                                widget=forms.Textarea(attrs={"rows": 2}),
                                help_text=_("One per line."))
    birthday = forms.DateField(label=_("Date of birth"), required=False, widget=_DATE)
    company = forms.CharField(label=_("Company (customer id)"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    payment_terms = forms.ChoiceField(label=_("Payment terms"), choices=[
        ("prepaid", _("prepaid")), ("credit", _("credit"))])
    credit_limit = forms.CharField(label=_("Credit limit"), required=False)
    preferred_channel = forms.ChoiceField(label=_("Preferred contact"), choices=[
        ("none", _("none")), ("phone", _("phone")), ("sms", "SMS"), ("email", _("e-mail")),
        ("whatsapp", "WhatsApp")])
    region = forms.CharField(label=_("Region"), required=False)
    occupation = forms.CharField(label=_("Occupation"), required=False)
    notes = forms.CharField(label=_("Notes"), required=False,
                            widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, categories: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", "—"), *categories]

    def values(self, decimals: int) -> dict[str, Any]:
        """The service's values (CUSTOMER_FIELDS) of a valid form."""
        data = dict(self.cleaned_data)
        data["addresses"] = [line for line in str(data["addresses"]).splitlines()
                             if line.strip()]
        data["credit_limit"] = minor_units(str(data["credit_limit"] or ""), decimals,
                                           "credit_limit")
        data["company"] = data["company"] or None
        data["category"] = data["category"] or None
        return data


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=[
        ("sms", "SMS"), ("email", _("e-mail")), ("whatsapp", "WhatsApp")])
    state = forms.ChoiceField(label=_("Consent"), choices=[("given", _("given")),
                                                           ("withdrawn", _("withdrawn"))])
    source = forms.CharField(label=_("Source"), max_length=200,
                             help_text=_("How: paper form, phone call, SMS reply, ..."))


class VehicleForm(forms.Form):
    plate = forms.CharField(label=_("Plate"), max_length=32)
    customer = forms.CharField(label=_("Customer id"), required=False)
    vehicle_type = forms.ChoiceField(label=_("Type"), choices=[
        (t, t) for t in ("car", "van", "truck", "bus", "motorcycle", "tractor", "other")])
    fuel = forms.CharField(label=_("Fuel (product code)"), required=False)
    tank = forms.CharField(label=_("Tank, litres"), required=False)
    notes = forms.CharField(label=_("Notes"), required=False,
                            widget=forms.Textarea(attrs={"rows": 2}))

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["tank_capacity_ml"] = millilitres(str(data.pop("tank") or ""),
                                               "tank_capacity_ml")
        data["customer"] = data["customer"] or None
        data["fuel"] = data["fuel"] or None
        return data


class GroupForm(forms.Form):
    group_id = forms.CharField(label=_("Group id"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=[
        (k, k) for k in ("fleet", "vip", "wholesale", "regional", "other")])
    products = forms.CharField(label=_("Products the members' cards may buy"),
                               required=False, help_text=_("Codes separated by commas; "
                                                           "empty: all."))


class LimitForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=[
        (p, p) for p in ("fill", "day", "week", "month", "year")])
    unit = forms.ChoiceField(label=_("Unit"), choices=[("volume", _("litres")),
                                                       ("money", _("money"))])
    value = forms.CharField(label=_("Value"), required=False,
                            help_text=_("Litres or money; empty removes the limit."))
    products = forms.CharField(label=_("Products"), required=False)

    def values(self, decimals: int) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        text = str(data["value"] or "")
        data["value"] = (millilitres(text, "value") if data["unit"] == "volume"
                         else minor_units(text, decimals, "value"))
        data["products"] = [p.strip() for p in str(data["products"] or "").split(",")
                            if p.strip()] or None
        return data


class IssueForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=[
        ("rfid", "RFID"), ("magstripe", _("magnetic stripe")), ("smart", _("smart card")),
        ("digital", _("digital (QR)"))])
    card_id = forms.CharField(label=_("Card id"), required=False,
                              help_text=_("Empty: the PAN, else the next number."))
    pan = forms.CharField(label="PAN", required=False)
    rfid_uid = forms.CharField(label="UID", required=False)
    stock = forms.BooleanField(label=_("Take the identifiers from the card stock"),
                               required=False)
    vehicle = forms.CharField(label=_("Vehicle id"), required=False)
    driver = forms.CharField(label=_("Driver"), required=False)
    expires = forms.DateField(label=_("Expires"), required=False, widget=_DATE)


class WalletForm(forms.Form):
    unit = forms.ChoiceField(label=_("Unit"), choices=[("money", _("money")),
                                                       ("volume", _("litres"))])
    balance = forms.CharField(label=_("Opening balance"), required=False)
    products = forms.CharField(label=_("Products"), required=False)
    expires = forms.DateField(label=_("Expires"), required=False, widget=_DATE)


class PostForm(forms.Form):
    kind = forms.ChoiceField(label=_("Entry"), choices=[("topup", _("top-up")),
                                                        ("adjustment", _("adjustment"))])
    amount = forms.CharField(label=_("Amount"))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)
