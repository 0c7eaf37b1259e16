"""Customers' own words as staff may see them: contact details and long numbers masked.

A quote is personal data. Before one is shown, e-mail addresses, phone numbers and long runs of
digits (order, card or account numbers) are replaced by a placeholder. Names cannot be found
reliably in free text, so a quote is still personal data after masking and is shown only to
those allowed to read it (a read key on the API, ``--quotes`` on the command line).
"""

from __future__ import annotations

import re

EMAIL = "[email]"
PHONE = "[phone]"
NUMBER = "[number]"

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A phone number: an optional +, then at least 8 digits that may be split by spaces, dots,
# dashes or brackets ("+31 6 1234 5678", "(020) 555-0134").
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s().-]{0,2}\d){7,}(?!\w)")
# Any other run of five or more digits: a postcode, an order or a card number.
_NUMBER = re.compile(r"\d{5,}")


def mask_personal_data(text: str, *, placeholders: bool = True) -> str:
    """``text`` with e-mail addresses, phone numbers and runs of 5+ digits masked.

    With ``placeholders`` false they are removed instead (for text that is counted, not read).
    """
    email, phone, number = (EMAIL, PHONE, NUMBER) if placeholders else (" ", " ", " ")
    text = _EMAIL.sub(email, text)
    text = _PHONE.sub(phone, text)
    return _NUMBER.sub(number, text)
