"""The function's settings: every environment variable it reads is named, parsed and checked here, once.

A bad value raises SettingsError at cold start with the variable's name in the message. Powertools
reads its own variables (POWERTOOLS_LOG_LEVEL, POWERTOOLS_IDEMPOTENCY_DISABLED...) itself.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from notifier_events import ACCOUNT_ID, EVENT_KINDS
from notifier_freezes import Freeze, parse_freezes

PLATFORM_NAME = "PLATFORM_NAME"
ROUTES = "ROUTES"
CHANNEL_SECRETS = "CHANNEL_SECRETS"
FALLBACK_CHANNELS = "FALLBACK_CHANNELS"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
ENVIRONMENTS = "ENVIRONMENTS"
HTTP_TIMEOUT_SECONDS = "HTTP_TIMEOUT_SECONDS"
MAX_ATTEMPTS = "MAX_ATTEMPTS"
SECRET_CACHE_SECONDS = "SECRET_CACHE_SECONDS"  # noqa: S105 - a variable name, not a secret
PULL_REQUEST_PROJECT_SUFFIX = "PULL_REQUEST_PROJECT_SUFFIX"
CHANNEL_QUEUES = "CHANNEL_QUEUES"
DEAD_LETTER_QUEUES = "DEAD_LETTER_QUEUES"
RATE_LIMITS = "RATE_LIMITS"
BURST_SUMMARY_AFTER = "BURST_SUMMARY_AFTER"
FREEZES = "FREEZES"
# Powertools' own variable; read here only to give the Logger this function's default service name.
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
DEFAULT_SERVICE_NAME = "teams-notifier"

ALL_VARIABLES = (
    PLATFORM_NAME,
    ROUTES,
    CHANNEL_SECRETS,
    FALLBACK_CHANNELS,
    IDEMPOTENCY_TABLE,
    IDEMPOTENCY_TTL_SECONDS,
    ENVIRONMENTS,
    HTTP_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    SECRET_CACHE_SECONDS,
    PULL_REQUEST_PROJECT_SUFFIX,
    CHANNEL_QUEUES,
    DEAD_LETTER_QUEUES,
    RATE_LIMITS,
    BURST_SUMMARY_AFTER,
    FREEZES,
    SERVICE_NAME,
)

# The stack gives the function a 120 s timeout; one HTTP attempt must fit well inside it.
MAX_HTTP_TIMEOUT_SECONDS = 30.0
# Microsoft documents about 4 posts per second per Teams webhook.
DEFAULT_RATE_PER_SECOND = 4.0


class SettingsError(ValueError):
    """An environment variable is missing or invalid."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    platform_name: str
    routes: Mapping[str, tuple[str, ...]]
    channel_secrets: Mapping[str, str]
    fallback_channels: tuple[str, ...]
    idempotency_table: str
    idempotency_ttl_seconds: int
    environments: Mapping[str, str]
    http_timeout_seconds: float
    max_attempts: int
    secret_cache_seconds: int
    pull_request_project_suffix: str
    # SQS delivery: queue name -> channel, channel -> dead-letter queue URL, channel -> posts per second.
    channel_queues: Mapping[str, str] = field(default_factory=dict)
    dead_letter_queues: Mapping[str, str] = field(default_factory=dict)
    rate_limits: Mapping[str, float] = field(default_factory=dict)
    # Individual cards of one kind per channel per minute before a burst is summarized (0: never).
    burst_summary_after: int = 10
    # The config's change freezes, to say on a failed Deploy-<env> card why and until when.
    freezes: tuple[Freeze, ...] = ()

    def channels_for(self, kind: str) -> tuple[str, ...]:
        return self.routes.get(kind, ())

    def rate_for(self, channel: str) -> float:
        return self.rate_limits.get(channel, DEFAULT_RATE_PER_SECOND)


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 120 else raw[:117] + "...")


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(name, "is required and was not set")
    return value


def _json(environ: Mapping[str, str], name: str, default: str | None) -> Any:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        if default is None:
            raise SettingsError(name, "is required and was not set")
        raw = default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        problem = f"is not valid JSON ({error.msg} at position {error.pos}); got {_shown(raw)}"
        raise SettingsError(name, problem) from None


def _name_list(name: str, value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise SettingsError(name, f"{where} must be a JSON list of non-empty strings; got {json.dumps(value)[:120]}")
    return tuple(dict.fromkeys(item.strip() for item in value))


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float, integer: bool) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise SettingsError(name, f"must be {kind}; got {_shown(raw)}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SettingsError(name, f"must be between {low:g} and {high:g}; got {_shown(raw)}")
    return value


def service_name(environ: Mapping[str, str] | None = None) -> str:
    """The Logger's service: POWERTOOLS_SERVICE_NAME, or "teams-notifier" when it is unset or blank."""
    env = os.environ if environ is None else environ
    return env.get(SERVICE_NAME, "").strip() or DEFAULT_SERVICE_NAME


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ

    platform_name = _required(env, PLATFORM_NAME)

    secrets_value = _json(env, CHANNEL_SECRETS, None)
    if not isinstance(secrets_value, dict) or not secrets_value:
        raise SettingsError(CHANNEL_SECRETS, "must be a non-empty JSON object of channel name -> secret ARN or name")
    channel_secrets: dict[str, str] = {}
    for channel, secret in secrets_value.items():
        if not channel.strip() or not isinstance(secret, str) or not secret.strip():
            raise SettingsError(CHANNEL_SECRETS, f"channel {channel!r} must map to a non-empty secret ARN or name")
        channel_secrets[channel.strip()] = secret.strip()

    def known_channels(name: str, channels: tuple[str, ...], where: str) -> tuple[str, ...]:
        unknown = [c for c in channels if c not in channel_secrets]
        if unknown:
            raise SettingsError(
                name,
                f"{where} names channel(s) {', '.join(unknown)} that CHANNEL_SECRETS does not define; "
                f"defined: {', '.join(channel_secrets)}",
            )
        return channels

    routes_value = _json(env, ROUTES, None)
    if not isinstance(routes_value, dict):
        got = json.dumps(routes_value)[:120]
        raise SettingsError(ROUTES, f"must be a JSON object of event kind -> list of channels; got {got}")
    routes: dict[str, tuple[str, ...]] = {}
    for kind, channels in routes_value.items():
        if kind not in EVENT_KINDS:
            raise SettingsError(ROUTES, f"unknown event kind {kind!r}; allowed: {', '.join(EVENT_KINDS)}")
        routes[kind] = known_channels(ROUTES, _name_list(ROUTES, channels, f"the value for {kind!r}"), f"{kind!r}")

    fallback = known_channels(
        FALLBACK_CHANNELS, _name_list(FALLBACK_CHANNELS, _json(env, FALLBACK_CHANNELS, "[]"), "the value"), "the list"
    )

    environments_value = _json(env, ENVIRONMENTS, "{}")
    if not isinstance(environments_value, dict):
        raise SettingsError(ENVIRONMENTS, "must be a JSON object of 12-digit account id -> environment name")
    environments: dict[str, str] = {}
    for account, environment in environments_value.items():
        if not ACCOUNT_ID.match(account) or not isinstance(environment, str) or not environment.strip():
            raise SettingsError(
                ENVIRONMENTS, f"entry {account!r} must be a 12-digit account id mapped to a non-empty environment name"
            )
        environments[account] = environment.strip()

    queues_value = _json(env, CHANNEL_QUEUES, "{}")
    if not isinstance(queues_value, dict) or not all(isinstance(v, str) for v in queues_value.values()):
        raise SettingsError(CHANNEL_QUEUES, "must be a JSON object of queue name -> channel")
    channel_queues = {str(q): c for q, c in queues_value.items()}
    known_channels(CHANNEL_QUEUES, tuple(channel_queues.values()), "the object")

    dead_letters_value = _json(env, DEAD_LETTER_QUEUES, "{}")
    if not isinstance(dead_letters_value, dict) or not all(
        isinstance(v, str) and v.startswith("https://") for v in dead_letters_value.values()
    ):
        raise SettingsError(DEAD_LETTER_QUEUES, "must be a JSON object of channel -> dead-letter queue URL (https://)")
    known_channels(DEAD_LETTER_QUEUES, tuple(dead_letters_value), "the object")

    rates_value = _json(env, RATE_LIMITS, "{}")
    if not isinstance(rates_value, dict):
        raise SettingsError(RATE_LIMITS, "must be a JSON object of channel -> posts per second")
    rate_limits: dict[str, float] = {}
    for channel, rate in rates_value.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.1 <= rate <= 20:
            raise SettingsError(RATE_LIMITS, f"channel {channel!r}: {rate!r}; allowed: 0.1 to 20 posts per second")
        rate_limits[channel] = float(rate)
    known_channels(RATE_LIMITS, tuple(rate_limits), "the object")

    try:
        freezes = parse_freezes(_json(env, FREEZES, "[]"))
    except ValueError as error:
        raise SettingsError(FREEZES, str(error)) from None

    return Settings(
        platform_name=platform_name,
        routes=MappingProxyType(routes),
        channel_secrets=MappingProxyType(channel_secrets),
        fallback_channels=fallback,
        idempotency_table=_required(env, IDEMPOTENCY_TABLE),
        idempotency_ttl_seconds=int(_number(env, IDEMPOTENCY_TTL_SECONDS, 172800, 3600, 366 * 86400, integer=True)),
        environments=MappingProxyType(environments),
        http_timeout_seconds=_number(env, HTTP_TIMEOUT_SECONDS, 5.0, 0.05, MAX_HTTP_TIMEOUT_SECONDS, integer=False),
        # Bounded by the invocation's deadline too: enough attempts to ride out a minute-long outage.
        max_attempts=int(_number(env, MAX_ATTEMPTS, 40, 1, 100, integer=True)),
        secret_cache_seconds=int(_number(env, SECRET_CACHE_SECONDS, 300, 0, 86400, integer=True)),
        pull_request_project_suffix=env.get(PULL_REQUEST_PROJECT_SUFFIX, "-pr").strip(),
        channel_queues=MappingProxyType(channel_queues),
        dead_letter_queues=MappingProxyType(dict(dead_letters_value)),
        rate_limits=MappingProxyType(rate_limits),
        burst_summary_after=int(_number(env, BURST_SUMMARY_AFTER, 10, 0, 1000, integer=True)),
        freezes=freezes,
    )
