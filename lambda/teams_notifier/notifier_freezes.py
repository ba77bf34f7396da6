"""Change freezes, as the config declares them (FREEZES), to say on a failed deploy stage's card why and until when.

A freeze is a DeploymentWindow complement (docs/adr/0008): exactly one cron field (hours, day-of-month, month
or day-of-week) is frozen, in one IANA time zone. CodePipeline's stage event does not say which entry rule
failed, so a card names the freezes that were in force at the event's time for that stage's environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The frozen field, its domain (DeploymentWindow cron: months 1-12, days of week 1-7 from Sunday).
FIELDS = {"hours": (0, 23), "day-of-month": (1, 31), "month": (1, 12), "day-of-week": (1, 7)}
# A freeze of every value but one ends at most a year later (months) or a week (days); a safe bound.
_MAX_STEPS = 800


@dataclass(frozen=True)
class Freeze:
    name: str
    field: str
    values: frozenset[int]
    timezone: str
    reason: str
    environments: tuple[str, ...] | None  # None: every environment
    waits: bool = False  # during: wait (executions wait before the stage) instead of fail

    def applies_to(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments

    def _value(self, local: datetime) -> int:
        if self.field == "hours":
            return local.hour
        if self.field == "day-of-month":
            return local.day
        if self.field == "month":
            return local.month
        return local.isoweekday() % 7 + 1  # Monday 1 -> 2 ... Sunday 7 -> 1

    def frozen_at(self, when: datetime) -> bool:
        return self._value(when.astimezone(ZoneInfo(self.timezone))) in self.values

    def ends_after(self, when: datetime) -> datetime:
        """The first moment after ``when`` outside the freeze (in its zone), e.g. 1 January 00:00."""
        local = when.astimezone(ZoneInfo(self.timezone))
        if self.field == "hours":
            start = local.replace(minute=0, second=0, microsecond=0)
        elif self.field == "month":
            start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        else:
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        step = start
        for _ in range(_MAX_STEPS):
            if self._value(step) not in self.values:
                return step
            step = _next(step, self.field)
        return step


def _next(local: datetime, field: str) -> datetime:
    """The start of the next hour, day or month, in local wall time."""
    if field == "hours":
        naive = local.replace(tzinfo=None) + timedelta(hours=1)
    elif field == "month":
        naive = (local.replace(tzinfo=None, day=28) + timedelta(days=4)).replace(day=1)
    else:
        naive = local.replace(tzinfo=None) + timedelta(days=1)
    return naive.replace(tzinfo=local.tzinfo)


def parse_freezes(value: object) -> tuple[Freeze, ...]:
    """FREEZES' JSON list; ValueError naming the entry and the field that is wrong."""
    if not isinstance(value, list):
        raise ValueError("must be a JSON list of freezes")
    freezes = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"entry {index} must be an object")
        field = item.get("field")
        if field not in FIELDS:
            raise ValueError(f"entry {index}: field {field!r}; allowed: {', '.join(FIELDS)}")
        low, high = FIELDS[field]
        values = item.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values)
        ):
            raise ValueError(f"entry {index}: values must be a non-empty list of {low}..{high}")
        try:
            ZoneInfo(str(item.get("timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"entry {index}: timezone {item.get('timezone')!r} is not an IANA time zone") from None
        environments = item.get("environments")
        if environments is not None and (
            not isinstance(environments, list) or not all(isinstance(e, str) for e in environments)
        ):
            raise ValueError(f"entry {index}: environments must be null or a list of names")
        name, reason = item.get("name"), item.get("reason")
        if not isinstance(name, str) or not name or not isinstance(reason, str):
            raise ValueError(f"entry {index}: name and reason must be strings")
        freezes.append(
            Freeze(
                name=name,
                field=field,
                values=frozenset(values),
                timezone=str(item["timezone"]),
                reason=reason,
                environments=tuple(environments) if environments is not None else None,
                waits=item.get("during") == "wait",
            )
        )
    return tuple(freezes)


def active_freezes(freezes: tuple[Freeze, ...], environment: str, when: datetime) -> list[tuple[Freeze, datetime]]:
    """The freezes of ``environment`` in force at ``when``, each with when it ends."""
    return [(f, f.ends_after(when)) for f in freezes if f.applies_to(environment) and f.frozen_at(when)]
