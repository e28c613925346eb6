"""Reason codes of authorization decisions, documented in docs/authorization.md."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why an authorization was approved or refused. The values never change."""

    APPROVED = "approved"
    UNKNOWN_CARD = "unknown_card"
    ON_STOP_LIST = "on_stop_list"
    PUMP_BUSY = "pump_busy"
    CARD_BLOCKED = "card_blocked"
    CARD_LOST = "card_lost"
    CARD_STOLEN = "card_stolen"
    CARD_WITHDRAWN = "card_withdrawn"
    CARD_REPLACED = "card_replaced"
    CARD_EXPIRED = "card_expired"
    TOKEN_REQUIRED = "token_required"
    STATION_NOT_ALLOWED = "station_not_allowed"
    OUTSIDE_TIME_WINDOW = "outside_time_window"
    VEHICLE_REQUIRED = "vehicle_required"
    VEHICLE_MISMATCH = "vehicle_mismatch"
    PIN_REQUIRED = "pin_required"
    PIN_WRONG = "pin_wrong"
    PIN_LOCKED = "pin_locked"
    ODOMETER_REQUIRED = "odometer_required"
    ODOMETER_UNREASONABLE = "odometer_unreasonable"
    DATA_STALE = "data_stale"
    PRODUCT_NOT_ALLOWED = "product_not_allowed"
    PRESET_TOO_SMALL = "preset_too_small"
    VISITS_EXHAUSTED = "visits_exhausted"
    LIMIT_EXHAUSTED = "limit_exhausted"
    WALLET_EMPTY = "wallet_empty"
    # Refusals by the reader layer, before any card rule (docs/cards.md):
    CARD_NOT_GENUINE = "card_not_genuine"
    CARD_UNREADABLE = "card_unreadable"
    SWIPE_MALFORMED = "swipe_malformed"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REPLAYED = "token_replayed"
    # Refusals of a fuel voucher (talon), before any card rule (docs/pricing.md, Vouchers):
    VOUCHER_MALFORMED = "voucher_malformed"
    VOUCHER_UNKNOWN = "voucher_unknown"
    VOUCHER_FORGED = "voucher_forged"
    VOUCHER_NOT_YET_VALID = "voucher_not_yet_valid"
    VOUCHER_EXPIRED = "voucher_expired"
    VOUCHER_USED = "voucher_used"
    VOUCHER_PRODUCT = "voucher_product"


#: Refusals made by the reader layer, never by the engine.
READER_REASONS = frozenset({Reason.CARD_NOT_GENUINE, Reason.CARD_UNREADABLE,
                            Reason.SWIPE_MALFORMED, Reason.TOKEN_INVALID, Reason.TOKEN_EXPIRED,
                            Reason.TOKEN_REPLAYED})

#: Refusals of a voucher code (core.vouchers, and the station's ledger of redeemed
#: serials), never by the engine.
VOUCHER_REASONS = frozenset({Reason.VOUCHER_MALFORMED, Reason.VOUCHER_UNKNOWN,
                             Reason.VOUCHER_FORGED, Reason.VOUCHER_NOT_YET_VALID,
                             Reason.VOUCHER_EXPIRED, Reason.VOUCHER_USED,
                             Reason.VOUCHER_PRODUCT})

#: One sentence per reason, for operators.
DESCRIPTIONS: dict[Reason, str] = {
    Reason.APPROVED: "The card may take fuel up to the preset.",
    Reason.UNKNOWN_CARD: "The card is not in the station's card store.",
    Reason.ON_STOP_LIST: "The card is on the stop list.",
    Reason.PUMP_BUSY: "The pump already has an open authorization; complete or cancel it "
                      "first.",
    Reason.CARD_BLOCKED: "The card is blocked.",
    Reason.CARD_LOST: "The card was reported lost.",
    Reason.CARD_STOLEN: "The card was reported stolen.",
    Reason.CARD_WITHDRAWN: "The card was withdrawn from its holder.",
    Reason.CARD_REPLACED: "The card was replaced by a newer card.",
    Reason.CARD_EXPIRED: "The card has expired.",
    Reason.TOKEN_REQUIRED: "A digital card is authorized only by its QR token signed by the "
                           "head office, never by its card id or token id alone.",
    Reason.STATION_NOT_ALLOWED: "The card may not be used at this station.",
    Reason.OUTSIDE_TIME_WINDOW: "The card may not be used at this day or hour.",
    Reason.VEHICLE_REQUIRED: "The card is bound to a vehicle and no vehicle was identified.",
    Reason.VEHICLE_MISMATCH: "The identified vehicle is not the card's vehicle.",
    Reason.PIN_REQUIRED: "The card needs a PIN and none was entered.",
    Reason.PIN_WRONG: "The PIN entered is wrong.",
    Reason.PIN_LOCKED: "Too many wrong PINs: the card is locked.",
    Reason.ODOMETER_REQUIRED: "The card needs an odometer reading and none was entered.",
    Reason.ODOMETER_UNREASONABLE: "The odometer reading is below the vehicle's last one or "
                                  "further above it than [odometer] max_step_km.",
    Reason.DATA_STALE: "The card data is too old and the offline policy refuses this card.",
    Reason.PRODUCT_NOT_ALLOWED: "The card may not take this product (or any product here).",
    Reason.PRESET_TOO_SMALL: "The requested volume or amount is below the station's "
                             "minimum preset ([authorization] min_preset_ml).",
    Reason.VISITS_EXHAUSTED: "The card has used all its fills for the period.",
    Reason.LIMIT_EXHAUSTED: "A limit of the card leaves nothing to fill.",
    Reason.WALLET_EMPTY: "No wallet of the card has a balance for these products.",
    Reason.CARD_NOT_GENUINE: "The smart card failed the challenge: it is not a genuine card.",
    Reason.CARD_UNREADABLE: "The card could not be read (removed too early, bad answer).",
    Reason.SWIPE_MALFORMED: "The magnetic stripe read is malformed or incomplete.",
    Reason.TOKEN_INVALID: "The QR token is not a valid token signed by the head office for a "
                          "digital card.",
    Reason.TOKEN_EXPIRED: "The QR token has expired.",
    Reason.TOKEN_REPLAYED: "The QR token was already used.",
    Reason.VOUCHER_MALFORMED: "The voucher code is not 20 digits (or its QR text is not "
                              "FCV1: and 20 digits).",
    Reason.VOUCHER_UNKNOWN: "No voucher batch with this number is valid at this station.",
    Reason.VOUCHER_FORGED: "The voucher code's check digits are wrong or its serial is not "
                           "in its batch: not a voucher the head office issued.",
    Reason.VOUCHER_NOT_YET_VALID: "The voucher is not valid yet (its batch's activation "
                                  "delay has not passed).",
    Reason.VOUCHER_EXPIRED: "The voucher's batch has expired.",
    Reason.VOUCHER_USED: "The voucher was already redeemed.",
    Reason.VOUCHER_PRODUCT: "The voucher buys another product than the one requested.",
}
