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


# --------------------------------------------------------------------------------------
# Any https host: Workflows URLs moved from *.logic.azure.com to Power Platform hosts
# --------------------------------------------------------------------------------------

POWER_PLATFORM_URL = (
    "https://default0a1b2c3d4e5f60718293a4b5c6d7e8.f9.environment.api.powerplatform.com:443/powerautomate/automations"
    "/direct/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke"
    "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx9-abc_DEF123ghiJKLmnoPQRstuVWXyz0123456789"
)
TENANT = "0a1b2c3d-1111-2222-3333-444455556666"
CLIENT = "9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"
CLIENT_SECRET = "Cl1ent~S3cret.value-not-its-id"
SCOPE = "https://service.flow.microsoft.com//.default"
ENTRA = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": CLIENT_SECRET, "scope": SCOPE}


@pytest.mark.parametrize(
    "url",
    [
        POWER_PLATFORM_URL,
        POWER_PLATFORM_URL.replace(":443", ""),
        "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c3d/triggers/manual/paths/invoke?sig=x",
        "https://hooks.example.com/x?sig=abc",  # any host: nothing here knows or checks Microsoft's hosts
        "https://10.0.0.7:8443/relay?sig=abc",
    ],
)
def test_any_https_host_is_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import parse_webhook, parse_webhook_secret

    assert parse_webhook_secret(url) == url
    assert parse_webhook_secret(json.dumps({"url": url})) == url
    assert parse_webhook(json.dumps({"url": url, "entra": ENTRA})).url == url


# --------------------------------------------------------------------------------------
# The JSON form with Entra ID client credentials
# --------------------------------------------------------------------------------------


def test_the_entra_form_gives_url_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import DEFAULT_AUTHORITY, EntraCredentials, Webhook, parse_webhook, parse_webhook_secret

    value = json.dumps({"url": POWER_PLATFORM_URL, "entra": ENTRA})
    webhook = parse_webhook(value)
    assert webhook == Webhook(POWER_PLATFORM_URL, EntraCredentials(TENANT, CLIENT, CLIENT_SECRET, SCOPE))
    assert (
        webhook.entra is not None
        and webhook.entra.authority == DEFAULT_AUTHORITY == "https://login.microsoftonline.com"
    )
    assert parse_webhook_secret(value) == POWER_PLATFORM_URL  # the URL-only API reads the new form too
    # the two older forms: no credentials
    assert parse_webhook(POWER_PLATFORM_URL) == Webhook(POWER_PLATFORM_URL, None)
    assert parse_webhook(json.dumps({"url": POWER_PLATFORM_URL})).entra is None
    assert parse_webhook(json.dumps({"url": POWER_PLATFORM_URL, "entra": None})).entra is None


def test_the_entra_form_takes_an_authority(monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import parse_webhook

    value = json.dumps(
        {
            "url": POWER_PLATFORM_URL,
            "entra": ENTRA | {"authority": " https://login.microsoftonline.us/ ", "scope": " s "},
        }
    )
    entra = parse_webhook(value).entra
    assert entra is not None
    assert (entra.authority, entra.scope) == ("https://login.microsoftonline.us", "s")
    assert entra.token_url == f"https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"


@pytest.mark.parametrize("missing", ["tenant_id", "client_id", "client_secret", "scope"])
def test_a_missing_entra_field_is_named(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecretError, parse_webhook

    entra = {k: v for k, v in ENTRA.items() if k != missing}
    with pytest.raises(WebhookSecretError) as raised:
        parse_webhook(json.dumps({"url": POWER_PLATFORM_URL, "entra": entra}))
    assert f'"entra" has no "{missing}"' in str(raised.value)
    assert CLIENT_SECRET not in str(raised.value) and "sig=" not in str(raised.value)


@pytest.mark.parametrize(
    ("entra", "problem"),
    [
        (ENTRA | {"client_secret": ""}, 'no non-empty string "client_secret"'),
        (ENTRA | {"client_secret": 12345}, 'no non-empty string "client_secret"'),
        (ENTRA | {"tenant_id": "   "}, 'no non-empty string "tenant_id"'),
        (ENTRA | {"scope": None}, 'no non-empty string "scope"'),
        (ENTRA | {"tenant_id": "../evil"}, '"tenant_id" must be a directory ID'),
        (ENTRA | {"tenant_id": "x/oauth2"}, '"tenant_id" must be a directory ID'),
        (ENTRA | {"client_id": "a b"}, '"client_id" must not contain spaces'),
        (ENTRA | {"authority": "http://login.microsoftonline.com"}, '"authority" must use https'),
        (ENTRA | {"authority": "login.microsoftonline.com"}, '"authority" must be an absolute URL'),
        (ENTRA | {"authority": "https://login.example/?x=1"}, '"authority" must be an absolute URL without query'),
        (ENTRA | {"authority": 5}, '"authority" must be a string'),
        (ENTRA | {"tenant": TENANT}, "unknown key(s) tenant"),
        ([ENTRA], '"entra" must be an object'),
        ("tenant", '"entra" must be an object'),
    ],
)
def test_an_unusable_entra_object_is_refused_without_echoing(
    entra: object, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecretError, parse_webhook

    with pytest.raises(WebhookSecretError) as raised:
        parse_webhook(json.dumps({"url": POWER_PLATFORM_URL, "entra": entra}))
    assert problem in str(raised.value)
    assert CLIENT_SECRET not in str(raised.value) and "sig=" not in str(raised.value)


def test_a_bad_url_is_refused_before_the_credentials_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecretError, parse_webhook

    with pytest.raises(WebhookSecretError, match='"url"'):
        parse_webhook(json.dumps({"entra": ENTRA}))
    with pytest.raises(WebhookSecretError, match="https"):
        parse_webhook(json.dumps({"url": "http://hooks.example.com/x?sig=abc", "entra": ENTRA}))


def test_webhook_reads_the_credentials_and_redacts_the_client_secret(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    load_notifier(monkeypatch)
    from notifier_logging import REDACTED, redact
    from notifier_secrets import WebhookSecrets

    with mocked_aws(server):
        put_webhook_secret("alerts", json.dumps({"url": server.url("alerts"), "entra": ENTRA}))
        cache = WebhookSecrets(CountingClient(CLIENTS.client("secretsmanager")), max_age=300)
        webhook = cache.webhook(secret_arn("alerts"))
        assert webhook.url == server.url("alerts") == cache.webhook_url(secret_arn("alerts"))
        assert webhook.entra is not None and webhook.entra.client_secret == CLIENT_SECRET
        assert cache.webhook(secret_arn("releases")).entra is None  # the plain-URL form
    assert redact(f"secret {CLIENT_SECRET}") == f"secret {REDACTED}"


def test_an_unusable_entra_secret_is_read_again_next_time(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    load_notifier(monkeypatch)
    from notifier_secrets import WebhookSecretError, WebhookSecrets

    with mocked_aws(server):
        broken = {k: v for k, v in ENTRA.items() if k != "client_secret"}
        put_webhook_secret("alerts", json.dumps({"url": server.url("alerts"), "entra": broken}))
        cache = WebhookSecrets(CLIENTS.client("secretsmanager"), max_age=300)
        with pytest.raises(WebhookSecretError, match='"client_secret"'):
            cache.webhook(secret_arn("alerts"))
        put_webhook_secret("alerts", json.dumps({"url": server.url("alerts"), "entra": ENTRA}))
        assert cache.webhook(secret_arn("alerts")).entra is not None
