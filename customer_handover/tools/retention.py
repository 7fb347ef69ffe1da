"""Retention arithmetic: when a record's retention ends and what state it is in."""

from datetime import timedelta

from dateutil.relativedelta import relativedelta

PERIOD_UNITS = ("day", "month", "year")


def retention_end_date(start, period, unit):
    """Return the date on which retention ends, or None while it has no start.

    ``period`` counts ``unit`` (one of PERIOD_UNITS) from ``start``; month and
    year arithmetic clamps to the end of a shorter month (31 Jan + 1 month is
    28 or 29 Feb), as a person counting on a calendar would.
    """
    if unit not in PERIOD_UNITS:
        raise ValueError(f"unknown retention period unit {unit!r}")
    if period <= 0:
        raise ValueError("a retention period must be positive")
    if not start:
        return None
    return start + relativedelta(**{f"{unit}s": period})


def retention_status(end_date, today, due_soon_days):
    """Classify a record: 'expired', 'due_soon' or 'active'.

    A record is expired from its end date on, and due soon within ``due_soon_days`` days before it.
    A legal hold is the officer's to know: it keeps a record, it does not change its status.
    """
    if not end_date:
        return "active"
    if end_date <= today:
        return "expired"
    if end_date <= today + timedelta(days=due_soon_days):
        return "due_soon"
    return "active"
