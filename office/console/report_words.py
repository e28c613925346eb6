"""The reports' titles, descriptions and column headings in the console's language.

``office.reports`` speaks English on purpose: ``forecourt office report`` prints it, its
CSV/XLSX headings are read by scripts, and a report's title is often built at run time
("Top 10 customers by volume"). The console translates at display time instead: the
English texts below are marked with ``gettext_noop`` so that ``makemessages`` puts them
in ``office/locale``, and :func:`word` looks a text up in the active language. A text
with no translation (a run-time title, a new column nobody listed yet) is shown as it
is, in English; tests/office/test_console_translations.py checks that every registered
report's title and description and every heading listed here is translated.
"""

from __future__ import annotations

from django.utils.translation import gettext, pgettext, pgettext_lazy

from core.display import Currency
from office.reports.base import Column
from office.reports.registry import Spec


def gettext_noop(text: str) -> str:
    """Marks ``text`` for makemessages (which looks for this name) and returns it as it
    is; Django's own would need configured settings at import time."""
    return text


#: Every report's title and description (office.reports.*, ``@report(...)``).
SPEC_WORDS = (
    gettext_noop("Consumption"),
    gettext_noop("Volume, amount, discount and sales by period; --per a station, product, "
                 "customer, group, card or vehicle (with litres per 100 km)."),
    gettext_noop("Top customers"),
    gettext_noop("The customers who bought the most in the range, by volume or by amount."),
    gettext_noop("Customer acquisition"),
    gettext_noop("New customers per period (and customers closed), by when they were "
                 "registered."),
    gettext_noop("Churn"),
    gettext_noop("Customers with no sale for --days days (as of --to): their last sale and "
                 "the turnover of their last 90 days of buying."),
    gettext_noop("Birthdays"),
    gettext_noop("Open customers whose birthday falls in --month, by day, with their age "
                 "and contacts."),
    gettext_noop("Customer mix"),
    gettext_noop("Customers and their buying in the range by age band, region, occupation "
                 "or category."),
    gettext_noop("Customer lifetime value"),
    gettext_noop("Per customer over all their sales up to --to: lifetime turnover, first "
                 "and last sale, visits per month and the average fill."),
    gettext_noop("Station turnover"),
    gettext_noop("Turnover per station and product, per pump, per hour of the day or per "
                 "weekday."),
    gettext_noop("Loyalty points"),
    gettext_noop("Points earned, burned, adjusted and expired per period."),
    gettext_noop("Fuel vouchers"),
    gettext_noop("Per batch valid in the range: issued, redeemed, outstanding, expired and "
                 "redeemed twice."),
    gettext_noop("Exceptions"),
    gettext_noop("Fills above tank capacity, odometers backwards or too far, a card at two "
                 "stations within --within, wallets overdrawn, sales the office repriced."),
    gettext_noop("Statement"),
    gettext_noop("One customer's statement for the range (--customer): sales, discounts, "
                 "top-ups, payments and adjustments, opening and closing balance."),
    gettext_noop("Credit control"),
    gettext_noop("Customers over their credit limit or with an overdue balance at the end "
                 "of --to: balance, limit, over by, overdue by age, oldest unpaid charge."),
    gettext_noop("Payment patterns"),
    gettext_noop("Per customer, the payments received in the range: count, total, average "
                 "days from charge to payment (first in, first out), share paid on time, "
                 "last payment."),
)

#: Column headings of the reports and the dashboard (``Column(key, title)``; a
#: dimension's heading is its name capitalised: "Station", "Pump", "Weekday").
COLUMN_WORDS = (
    gettext_noop("Period"), gettext_noop("Sales"), gettext_noop("Volume"),
    gettext_noop("Amount"), gettext_noop("Discount"), gettext_noop("Distance"),
    gettext_noop("l/100 km"), gettext_noop("Name"), gettext_noop("Station"),
    gettext_noop("Product"), gettext_noop("Customer"), gettext_noop("Group"),
    gettext_noop("Card"), gettext_noop("Vehicle"), gettext_noop("Pump"),
    gettext_noop("Hour"), gettext_noop("Weekday"), gettext_noop("Age"),
    gettext_noop("Region"), gettext_noop("Occupation"), gettext_noop("Category"),
    gettext_noop("Average fill"), gettext_noop("New"), gettext_noop("Closed"),
    gettext_noop("Phone"), gettext_noop("Last sale"), gettext_noop("Days since"),
    gettext_noop("Sales (last 90 days)"), gettext_noop("Volume (last 90 days)"),
    gettext_noop("Amount (last 90 days)"), gettext_noop("Day"), gettext_noop("Birthday"),
    gettext_noop("Turns"), gettext_noop("E-mail"), gettext_noop("Customers"),
    gettext_noop("Bought in range"), gettext_noop("First sale"),
    gettext_noop("Visits a month"), gettext_noop("Kind"), gettext_noop("When"),
    gettext_noop("Seq"), gettext_noop("Detail"), gettext_noop("Earned"),
    gettext_noop("Burned"), gettext_noop("Adjusted"), gettext_noop("Expired"),
    gettext_noop("Net"), gettext_noop("Batch"), gettext_noop("Each (volume)"),
    gettext_noop("Each (amount)"), gettext_noop("Valid until"), gettext_noop("Issued"),
    gettext_noop("Redeemed"), gettext_noop("Redeemed volume"),
    gettext_noop("Redeemed value"), gettext_noop("Outstanding"),
    gettext_noop("Redeemed twice"), gettext_noop("Of which open"), gettext_noop("Date"),
    gettext_noop("Reference"), gettext_noop("Wallet"), gettext_noop("Wallet litres"),
    gettext_noop("Paid otherwise"), gettext_noop("Charge"), gettext_noop("Credit"),
    gettext_noop("Balance"), gettext_noop("Wallet balance"), gettext_noop("Terms"),
    gettext_noop("Credit limit"), gettext_noop("Over limit by"), gettext_noop("Not due"),
    gettext_noop("0-30 days"), gettext_noop("31-60 days"), gettext_noop("61-90 days"),
    gettext_noop("Over 90 days"), gettext_noop("Overdue"), gettext_noop("Oldest unpaid"),
    gettext_noop("Payments"), gettext_noop("Paid"), gettext_noop("Settled charges"),
    gettext_noop("Average days to pay"), gettext_noop("On time (share)"),
    gettext_noop("Last payment"), gettext_noop("Balance at end"),
)

#: Headings that mean something else in a report than on the console's other pages
#: ("New" there is an audit entry's new value, "Issued" a card's issue date): looked up
#: in the context "report column" first.
REPORT_COLUMN = "report column"
_IN_REPORTS = (pgettext_lazy("report column", "New"),
               pgettext_lazy("report column", "Closed"),
               pgettext_lazy("report column", "Issued"))


def word(text: str) -> str:
    """``text`` in the active language (itself when there is no translation)."""
    return gettext(text) if text else text


def title(spec: Spec) -> str:
    return word(spec.title)


def about(spec: Spec) -> str:
    return word(spec.about)


def heading(column: Column, currency: Currency) -> str:
    """A column's heading with its unit, translated: ``Объём (l)``, ``Сумма (RUB)``
    (the unit as office.reports.render.heading gives it)."""
    name = pgettext(REPORT_COLUMN, column.title) if column.title else ""
    if name == column.title:
        name = word(column.title)
    if column.kind == "ml":
        return f"{name} (l)"
    if column.kind == "money":
        return f"{name} ({currency.code})"
    return name
