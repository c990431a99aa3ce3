"""The types every request value goes through: one rule for the whole API and console.

- **Ids** (`Id`): whole numbers from 1 to 2³¹−1, the range of the schema's integer columns
  (32 bits on PostgreSQL); any other is refused with 422 before a query is made (beyond 64 bits
  SQLite raised, beyond 32 bits PostgreSQL did: a 500). `Cursor` (a Last-Event-ID) starts at 0.
- **Date-times** (`UtcDateTime`): ISO 8601 *with* a time zone (`Z`, `+02:00`); one without is
  refused with 422 (whose local time would it be?), as authorisations always required. Every
  one is turned into UTC and must lie between 1970-01-01 and 2999-12-31, else 422. The same
  rule for query parameters and request bodies.
- **Days** (`Day`): YYYY-MM-DD within the same years (an inclusive end day `until` becomes the
  next midnight, which must exist).

Strings with a lone surrogate (`"\\ud800"`, not Unicode) and oversized bodies are refused earlier,
for every route at once, by `veilleur.http.limits`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import annotated_types
from pydantic import AfterValidator

#: The largest id: the schema's ids are `Integer`, 32-bit on PostgreSQL.
MAX_ID = 2**31 - 1
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)
_FIRST = datetime.combine(FIRST_DAY, time(), tzinfo=UTC)
_AFTER_LAST = datetime.combine(LAST_DAY + timedelta(days=1), time(), tzinfo=UTC)
RANGE = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; ValueError without a time zone or outside the years allowed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"a date-time with its time zone, e.g. {value.isoformat()}Z or "
            f"{value.isoformat()}+02:00"
        )
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. year 1 at +14:00 falls before year 1 in UTC
        raise ValueError(f"a date-time {RANGE} (UTC)") from None
    if not _FIRST <= value < _AFTER_LAST:
        raise ValueError(f"a date-time {RANGE} (UTC)")
    return value


def in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day {RANGE}")
    return value


Id = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_ID)]
"""A row id: 1 … 2³¹−1."""
Cursor = Annotated[int, annotated_types.Ge(0), annotated_types.Le(MAX_ID)]
"""The last id a client received (0: none yet)."""
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
"""An ISO 8601 date-time with its time zone, given in UTC, 1970 … 2999."""
Day = Annotated[date, AfterValidator(in_range)]
"""A YYYY-MM-DD day, 1970 … 2999."""
