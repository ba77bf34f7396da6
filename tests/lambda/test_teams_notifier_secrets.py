"""Webhook URLs from Secrets Manager (moto): both secret forms, the cache, and never a URL in the logs."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from notifier_helpers import (
    CLIENTS,
    FakeContext,
    Reply,
    WebhookServer,
    dependencies,
    json_lines,
    load_event,
    load_notifier,
    mocked_aws,
    put_webhook_secret,
    secret_arn,
)

EVENT = "codepipeline-pipeline-execution-failed.json"
BOTH = {"pipeline_failed": ["alerts", "releases"]}


@pytest.fixture
def server(shared_server: WebhookServer) -> WebhookServer:
    """Here without moto's AWS: these tests set up Secrets Manager themselves."""
    shared_server.reset()
    return shared_server


class CountingClient:
    """A real (moto) Secrets Manager client that counts GetSecretValue calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs["SecretId"])
        return self.client.get_secret_value(**kwargs)


def test_plain_and_json_secrets_both_work(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module = load_notifier(monkeypatch, ROUTES=BOTH)
    with mocked_aws(server, json_secret_channels=("alerts",)):
        stored = CLIENTS.client("secretsmanager").get_secret_value(SecretId="acme/teams/alerts")["SecretString"]
        assert json.loads(stored) == {"url": server.url("alerts")}
        plain = CLIENTS.client("secretsmanager").get_secret_value(SecretId="acme/teams/releases")["SecretString"]
        assert plain == server.url("releases")
        summary = module.handle(load_event(EVENT), FakeContext(), module.SETTINGS, dependencies(module))
    assert summary["posted"] == ["alerts", "releases"]
    assert [r.path for r in server.posts()] == [server.path("alerts"), server.path("releases")]


def test_webhook_urls_never_reach_the_logs(
    monkeypatch: pytest.MonkeyPatch,
    server: WebhookServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Success, 429, 5xx, 4xx and timeouts all log; neither the URL nor its signature may appear.

    caplog sees the raw records (before the formatter's redaction), so this also proves that no
    code passes the URL to a log call; urllib3's own retry warnings are checked as well.
    """
    module = load_notifier(monkeypatch, ROUTES=BOTH, HTTP_TIMEOUT_SECONDS="0.2", MAX_ATTEMPTS="2")
    caplog.set_level(logging.INFO, logger=module.logger.name)
    with mocked_aws(server, json_secret_channels=("alerts",)):
        server.script("alerts", Reply(429, {"Retry-After": "0"}), Reply(500), Reply(202, delay=5), Reply(202))
        server.script("releases", Reply(404, body=b"webhook not found"))
        deps = dependencies(module)
        # alerts: 429 then 500 (attempts exhausted); releases: 404 (refused)
        with pytest.raises(module.DeliveryFailedError):
            module.handle(load_event(EVENT), FakeContext(), module.SETTINGS, deps)
        # the Lambda retry: alerts times out once, then both channels are posted
        retry = module.handle(load_event(EVENT), FakeContext(), module.SETTINGS, deps)
        assert retry["posted"] == ["alerts", "releases"]
    output = capsys.readouterr().out
    lines = json_lines(output)
    messages = {line["message"] for line in lines}
    # The failure paths really ran and were logged ...
    assert {"webhook attempt failed", "webhook attempt failed: no response", "channel failed"} <= messages
    assert {"webhook refused the card (not retried)", "waiting before retry"} <= messages
    assert any(line.get("channel") == "alerts" for line in lines)
    # Powertools puts a call's fields on the record itself.
    ours = [record for record in caplog.records if record.name == module.logger.name]
    assert len(ours) == len(lines)
    assert any(record.name.startswith("urllib3") for record in caplog.records)  # "Retrying ... after timeout"
    raw = [record.getMessage() + json.dumps(vars(record), default=str) for record in caplog.records]
    # ... and no line, formatted or raw, carries a webhook URL or its signature.
    for secret in (server.url("alerts"), server.url("releases"), "SIG-alerts-s3cr3t", "SIG-releases-s3cr3t"):
        assert secret not in output
        assert all(secret not in text for text in raw)
    assert "/workflows/" not in output


def test_secrets_are_cached_per_secret(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecrets

    with mocked_aws(server):
        counting = CountingClient(CLIENTS.client("secretsmanager"))
        cache = WebhookSecrets(counting, max_age=1)  # Powertools' cache runs on the wall clock: keep it short
        assert cache.webhook_url(secret_arn("alerts")) == server.url("alerts")
        assert cache.webhook_url(secret_arn("alerts")) == server.url("alerts")
        assert cache.webhook_url(secret_arn("releases")) == server.url("releases")
        assert counting.calls == [secret_arn("alerts"), secret_arn("releases")]
        put_webhook_secret("alerts", server.url("alerts-new"))
        assert cache.webhook_url(secret_arn("alerts")) == server.url("alerts")  # still cached
        time.sleep(1.1)
        assert cache.webhook_url(secret_arn("alerts")) == server.url("alerts-new")  # expired: read again
        cache.invalidate(secret_arn("alerts"))
        cache.webhook_url(secret_arn("alerts"))
        assert counting.calls.count(secret_arn("alerts")) == 3
        cache.webhook_url(secret_arn("alerts"))  # cached again after the forced read
        assert counting.calls.count(secret_arn("alerts")) == 3


def test_an_unusable_secret_is_read_again_next_time(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    """The placeholder a new channel's secret holds does not stay cached once the URL is stored."""
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecretError, WebhookSecrets

    with mocked_aws(server):
        put_webhook_secret("alerts", '{"url": ""}')
        cache = WebhookSecrets(CLIENTS.client("secretsmanager"), max_age=300)
        with pytest.raises(WebhookSecretError):
            cache.webhook_url(secret_arn("alerts"))
        put_webhook_secret("alerts", server.url("alerts"))
        assert cache.webhook_url(secret_arn("alerts")) == server.url("alerts")


def test_warm_invocations_reuse_the_cached_url(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module = load_notifier(monkeypatch)
    with mocked_aws(server):
        deps = dependencies(module)
        module.handle(load_event(EVENT), FakeContext(), module.SETTINGS, deps)
        put_webhook_secret("alerts", server.url("alerts-new"))
        second = load_event(EVENT) | {"id": "another-event"}
        module.handle(second, FakeContext(), module.SETTINGS, deps)
    assert [r.path for r in server.posts()] == [server.path("alerts")] * 2


def test_a_missing_secret_fails_the_channel(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_notifier(monkeypatch)
    with mocked_aws(None), pytest.raises(module.DeliveryFailedError):  # no secrets created
        module.handle(load_event(EVENT), FakeContext(), module.SETTINGS, dependencies(module))
    assert server.posts() == []
    [line] = [entry for entry in json_lines(capsys.readouterr().out) if entry["message"] == "webhook secret unusable"]
    assert line["error"] == "cannot read secret: ResourceNotFoundException"
    assert line["secret_id"] == secret_arn("alerts")


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("https://prod-01.westeurope.logic.azure.com/workflows/abc/invoke?sig=x", None),
        ('  {"url": "https://prod-01.westeurope.logic.azure.com/workflows/abc/invoke?sig=x"} ', None),
        ("https://example.webhook.office.com/x\n", "https://example.webhook.office.com/x"),
        ("http://127.0.0.1:8080/hook", None),
    ],
)
def test_parse_webhook_secret_accepts(value: str, url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import parse_webhook_secret

    expected = url or (json.loads(value)["url"] if value.strip().startswith("{") else value)
    assert parse_webhook_secret(value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://hooks.example.com/x?sig=abc", "https"),
        ("ftp://hooks.example.com/x?sig=abc", "https"),
        ('{"url": 5}', '"url"'),
        ('{"uri": "https://hooks.example.com/x?sig=abc"}', '"url"'),
        ('{"url": "https://hooks.example.com/x?sig=abc"', "JSON"),
        ("hooks.example.com/x?sig=abc", "absolute"),
        ("", "absolute"),
    ],
)
def test_parse_webhook_secret_rejects_without_echoing(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecretError, parse_webhook_secret

    with pytest.raises(WebhookSecretError) as raised:
        parse_webhook_secret(value)
    assert problem in str(raised.value)
    assert "sig=abc" not in str(raised.value) and "hooks.example.com" not in str(raised.value)


def test_registered_secrets_and_signatures_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_logging import RedactingFormatter, register_secret

    register_secret("https://hooks.example.com/registered?sig=zzz")
    record = logging.LogRecord("teams-notifier", logging.INFO, __file__, 1, "posting", None, None)
    record.oops = "to https://hooks.example.com/registered?sig=zzz"
    record.other = "x?sig=unregistered&a=1"
    line = json.loads(RedactingFormatter().format(record))
    assert line["oops"] == "to [REDACTED]"
    assert line["other"] == "x?sig=[REDACTED]&a=1"


def test_other_libraries_log_lines_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib3 logs the request URL when it retries; the filter the notifier adds hides its signature."""
    load_notifier(monkeypatch)
    from notifier_logging import RedactingFilter

    record = logging.LogRecord(
        "urllib3.connectionpool", logging.WARNING, __file__, 1, "Retrying: %s", ("/x?sig=abc",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "Retrying: /x?sig=[REDACTED]"
    assert any(isinstance(f, RedactingFilter) for f in logging.getLogger("urllib3.connectionpool").filters)
