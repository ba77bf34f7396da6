"""A seeded burst of real-shaped EventBridge events, built from the AWS samples in tests/fixtures.

Each event is a deep copy of a sample (tests/fixtures/aws-events/*.json and
tests/fixtures/aws-events/derived/notifier-*.json: CodePipeline pipeline/stage/action and approval
state changes, CodeBuild build state and phase changes, CodeDeploy deployment and instance state
changes, CodeCommit pull request and repository events) with:

- a unique ``id`` (a UUID drawn from the seeded generator);
- its sample's resource names (``myPipeline``, ``my-sample-project``, ``myApplication``,
  ``MyDemoRepo``) replaced everywhere in the event (ARNs, log groups, links) by one of
  ``services`` service names, e.g. ``service-042-pipeline``; a PR project keeps its ``-pr`` suffix;
- ``time`` set to the start time plus its arrival offset (whole seconds, as EventBridge writes).

Every other field stays as AWS shaped it. Same arguments, same burst.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.load.virtual_clock import seeded_random

EVENTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"
DERIVED_DIR = EVENTS_DIR / "derived"
START = datetime(2025, 6, 2, 9, 0, 0, tzinfo=UTC)

# Sample name -> the name a service gives it ({} is the service name).
_RENAMES = {
    "my-sample-project": "{}-build",
    "myPipeline": "{}-pipeline",
    "myApplication": "{}-app",
    "MyDemoRepo": "{}",
}


@dataclass(frozen=True)
class TimedEvent:
    """An event and when (virtual seconds from the burst's start) EventBridge delivers it."""

    at: float
    event: dict[str, Any]
    sample: str = ""  # the fixture it was made from
    service: str = ""

    @property
    def id(self) -> str:
        return str(self.event["id"])


def sample_paths() -> list[Path]:
    """Every EventBridge event among the samples (the CodeDeploy hook and CodePipeline job are not)."""
    paths = sorted(EVENTS_DIR.glob("*.json")) + sorted(DERIVED_DIR.glob("notifier-*.json"))
    return [p for p in paths if "detail-type" in json.loads(p.read_text())]


def service_names(count: int) -> list[str]:
    return [f"service-{i:03d}" for i in range(count)]


def _rename(sample_text: str, service: str) -> dict[str, Any]:
    text = sample_text
    for original, pattern in _RENAMES.items():
        text = text.replace(original, pattern.format(service))
    event: dict[str, Any] = json.loads(text)
    return event


def burst(
    count: int,
    *,
    seed: int = 1,
    services: int = 200,
    spread_seconds: float = 5.0,
    samples: Sequence[str] | None = None,
    start: datetime = START,
) -> list[TimedEvent]:
    """``count`` events of mixed kinds arriving over ``spread_seconds``, in arrival order.

    ``samples``: file names to draw from (default: every EventBridge sample); the first event
    arrives at 0.0.
    """
    paths = sample_paths()
    if samples is not None:
        wanted = set(samples)
        paths = [p for p in paths if p.name in wanted]
        missing = wanted - {p.name for p in paths}
        if missing:
            raise ValueError(f"not EventBridge samples: {sorted(missing)}")
    texts = {p.name: p.read_text() for p in paths}
    names = sorted(texts)
    if count < 0 or services < 1:
        raise ValueError("count must be >= 0 and services >= 1")
    service_pool = service_names(services)
    rng = seeded_random(f"burst:{seed}")
    offsets = sorted([0.0] + [rng.uniform(0.0, spread_seconds) for _ in range(count - 1)])[:count]
    result = []
    for at in offsets:
        sample = rng.choice(names)
        service = rng.choice(service_pool)
        event = _rename(texts[sample], service)
        event["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event["time"] = (start + timedelta(seconds=int(at))).strftime("%Y-%m-%dT%H:%M:%SZ")
        result.append(TimedEvent(round(at, 6), event, sample, service))
    return result


def body_of(event: dict[str, Any]) -> str:
    """The SQS message body EventBridge writes for an event (the event as compact JSON)."""
    return json.dumps(event, separators=(",", ":"))
