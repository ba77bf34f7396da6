"""Settings: read once at cold start; a bad value fails with an error naming the variable."""

from __future__ import annotations

from typing import Any

import pytest
from notifier_helpers import load_notifier, notifier_env


def settings_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    load_notifier(monkeypatch)
    import notifier_settings

    return notifier_settings


def test_a_bad_routes_json_fails_the_cold_start_naming_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    notifier_settings = settings_module(monkeypatch)
    with pytest.raises(notifier_settings.SettingsError) as raised:
        load_notifier(monkeypatch, ROUTES='{"pipeline_failed": ["alerts"]')  # the import is the cold start
    assert raised.value.variable == "ROUTES"
    assert str(raised.value).startswith("ROUTES: is not valid JSON")


def test_defaults_and_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    notifier_settings = settings_module(monkeypatch)
    env = notifier_env(
        ROUTES={"pipeline_failed": ["alerts", "releases", "alerts"], "build_failed": []},
        HTTP_TIMEOUT_SECONDS=None,
        MAX_ATTEMPTS=None,
        FALLBACK_CHANNELS=None,
        ENVIRONMENTS=None,
    )
    settings = notifier_settings.load_settings(env)
    assert settings.platform_name == "acme"
    assert settings.channels_for("pipeline_failed") == ("alerts", "releases")  # duplicates dropped
    assert settings.channels_for("build_failed") == ()
    assert settings.channels_for("pipeline_started") == ()
    assert settings.fallback_channels == ()
    assert dict(settings.environments) == {}
    assert settings.idempotency_table == "acme-notifier-idempotency"
    assert (settings.idempotency_ttl_seconds, settings.http_timeout_seconds) == (172800, 5.0)
    # Attempts are bounded by the invocation's deadline too: enough to ride out a minute-long outage.
    assert (settings.max_attempts, settings.secret_cache_seconds) == (40, 300)
    assert settings.pull_request_project_suffix == "-pr"
    # Without queue settings (a direct invocation): no queues, Microsoft's 4 per second, summaries after 10.
    assert dict(settings.channel_queues) == {} and settings.rate_for("alerts") == 4.0
    assert settings.burst_summary_after == 10
    with pytest.raises(TypeError):
        settings.routes["pipeline_failed"] = ("x",)  # read-only


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("ROUTES", None, "is required"),
        ("ROUTES", '["alerts"]', "must be a JSON object"),
        ("ROUTES", '{"pipeline_exploded": ["alerts"]}', "unknown event kind 'pipeline_exploded'"),
        ("ROUTES", '{"unrecognised": ["alerts"]}', "unknown event kind 'unrecognised'"),
        ("ROUTES", '{"pipeline_failed": "alerts"}', "must be a JSON list"),
        ("ROUTES", '{"pipeline_failed": ["ops"]}', "ops that CHANNEL_SECRETS does not define"),
        ("CHANNEL_SECRETS", None, "is required"),
        ("CHANNEL_SECRETS", "{}", "non-empty JSON object"),
        ("CHANNEL_SECRETS", '{"alerts": ""}', "non-empty secret"),
        ("CHANNEL_SECRETS", "not json", "is not valid JSON"),
        ("FALLBACK_CHANNELS", '"alerts"', "must be a JSON list"),
        ("FALLBACK_CHANNELS", '["ops"]', "ops that CHANNEL_SECRETS does not define"),
        ("PLATFORM_NAME", None, "is required"),
        ("PLATFORM_NAME", "  ", "is required"),
        ("IDEMPOTENCY_TABLE", None, "is required"),
        ("IDEMPOTENCY_TTL_SECONDS", "60", "between 3600"),
        ("IDEMPOTENCY_TTL_SECONDS", "2 days", "must be an integer"),
        ("ENVIRONMENTS", '{"1234": "dev"}', "12-digit account id"),
        ("ENVIRONMENTS", '{"222222222222": ""}', "12-digit account id"),
        ("ENVIRONMENTS", "[]", "must be a JSON object"),
        ("HTTP_TIMEOUT_SECONDS", "abc", "must be a number"),
        ("HTTP_TIMEOUT_SECONDS", "0", "between"),
        ("HTTP_TIMEOUT_SECONDS", "60", "between"),
        ("HTTP_TIMEOUT_SECONDS", "nan", "between"),
        ("MAX_ATTEMPTS", "0", "between 1 and 100"),
        ("CHANNEL_QUEUES", '{"acme-notify-ops.fifo": "ops"}', "ops that CHANNEL_SECRETS does not define"),
        ("CHANNEL_QUEUES", '["acme-notify-alerts.fifo"]', "queue name -> channel"),
        ("DEAD_LETTER_QUEUES", '{"alerts": "sqs://nope"}', "dead-letter queue URL (https://)"),
        ("DEAD_LETTER_QUEUES", '{"ops": "https://sqs.eu-west-1.amazonaws.com/1/q"}', "ops that CHANNEL_SECRETS"),
        ("RATE_LIMITS", '{"alerts": 0}', "channel 'alerts': 0; allowed: 0.1 to 20"),
        ("RATE_LIMITS", '{"alerts": true}', "allowed: 0.1 to 20"),
        ("RATE_LIMITS", '{"ops": 4}', "ops that CHANNEL_SECRETS does not define"),
        ("BURST_SUMMARY_AFTER", "-1", "between 0 and 1000"),
        ("MAX_ATTEMPTS", "2.5", "must be an integer"),
        ("SECRET_CACHE_SECONDS", "-1", "between 0"),
    ],
)
def test_invalid_settings_name_the_variable(
    variable: str, value: str | None, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier_settings = settings_module(monkeypatch)
    env = notifier_env(**{variable: value})
    if value is None:
        env.pop(variable, None)
    else:
        env[variable] = value
    with pytest.raises(notifier_settings.SettingsError) as raised:
        notifier_settings.load_settings(env)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    assert problem in str(raised.value)


def test_settings_are_read_once_at_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_notifier(monkeypatch, PLATFORM_NAME="acme")
    monkeypatch.setenv("PLATFORM_NAME", "changed-later")
    assert module.SETTINGS.platform_name == "acme"


def test_every_variable_is_named_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """No module other than notifier_settings reads the environment."""
    load_notifier(monkeypatch)
    from notifier_helpers import NOTIFIER_DIR

    notifier_settings = settings_module(monkeypatch)
    for path in NOTIFIER_DIR.glob("*.py"):
        source = path.read_text()
        if path.name != "notifier_settings.py":
            assert "os.environ" not in source and "getenv" not in source, path.name
    assert set(notifier_settings.ALL_VARIABLES) == {
        "PLATFORM_NAME", "ROUTES", "CHANNEL_SECRETS", "FALLBACK_CHANNELS", "IDEMPOTENCY_TABLE",
        "IDEMPOTENCY_TTL_SECONDS", "ENVIRONMENTS", "HTTP_TIMEOUT_SECONDS", "MAX_ATTEMPTS", "SECRET_CACHE_SECONDS",
        "PULL_REQUEST_PROJECT_SUFFIX", "POWERTOOLS_SERVICE_NAME", "CHANNEL_QUEUES", "DEAD_LETTER_QUEUES",
        "RATE_LIMITS", "BURST_SUMMARY_AFTER", "FREEZES",
    }  # fmt: skip
