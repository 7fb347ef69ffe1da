"""Phone numbers compared as E.164: "+86 138 0013 8000" and "138 0013 8000" in China are one number.

Odoo's phone_validation does this with the phonenumbers library, which Odoo lists as optional (without it,
phone_validation returns numbers unchanged): this is the part of E.164 a match needs, with no library.
"""

import re

_NOT_DIGIT = re.compile(r"\D")
# Countries whose numbers keep their leading 0 after the country code (Italy, San Marino, Vatican City).
KEEP_LEADING_ZERO = {"39", "378", "379"}
MIN_DIGITS = 6


def e164_digits(number, calling_code):
    """The E.164 digits of ``number`` (without "+"), a national number read with ``calling_code``; "" if too short.

    "+" or "00" starts an international number; any other number is national: its trunk prefix 0 is dropped
    and ``calling_code`` (the country's, e.g. "86"), if known, put before it.
    """
    text = (number or "").strip()
    digits = _NOT_DIGIT.sub("", text)
    if text.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif calling_code:
        national = digits[1:] if digits.startswith("0") and calling_code not in KEEP_LEADING_ZERO else digits
        international = f"{calling_code}{national}"
    else:
        international = digits
    return international if len(digits) >= MIN_DIGITS else ""


def stored_forms(international, calling_codes):
    """The digits a number stored in any usual form leaves once its formatting is removed.

    ``international``: E.164 digits; ``calling_codes``: the countries' codes it may be stored as a national
    number of. What a stored number's digits are compared with, on their index, before its E.164 is checked.
    """
    forms = {international, f"00{international}"}
    for code in calling_codes:
        if code and international.startswith(code):
            national = international[len(code):]
            forms.update({national, f"0{national}"})
    return forms
