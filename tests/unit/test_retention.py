from datetime import date

import pytest
from customer_handover_tools.retention import PERIOD_UNITS, retention_end_date, retention_status


@pytest.mark.parametrize(
    ("start", "period", "unit", "end"),
    [
        (date(2024, 3, 1), 30, "day", date(2024, 3, 31)),
        (date(2024, 1, 31), 1, "month", date(2024, 2, 29)),
        (date(2023, 1, 31), 1, "month", date(2023, 2, 28)),
        (date(2024, 2, 29), 1, "year", date(2025, 2, 28)),
        (date(2021, 6, 15), 3, "year", date(2024, 6, 15)),
        (date(2024, 8, 31), 6, "month", date(2025, 2, 28)),
    ],
)
def test_end_date_counts_calendar_periods(start, period, unit, end):
    assert retention_end_date(start, period, unit) == end


def test_no_start_means_no_end():
    assert retention_end_date(None, 3, "year") is None


@pytest.mark.parametrize("period", [0, -1])
def test_non_positive_period_is_refused(period):
    with pytest.raises(ValueError, match="positive"):
        retention_end_date(date(2024, 1, 1), period, "year")


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unit"):
        retention_end_date(date(2024, 1, 1), 1, "week")
    assert "week" not in PERIOD_UNITS


TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("end", "window", "status"),
    [
        (None, 30, "active"),
        (date(2027, 1, 1), 30, "active"),
        (date(2026, 12, 23), 30, "due_soon"),
        (date(2026, 12, 24), 30, "active"),
        (date(2026, 11, 24), 30, "due_soon"),
        (date(2026, 11, 23), 30, "expired"),
        (date(2020, 1, 1), 30, "expired"),
        (date(2026, 11, 24), 0, "active"),
    ],
)
def test_status(end, window, status):
    assert retention_status(end, TODAY, window) == status
