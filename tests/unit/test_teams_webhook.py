"""python -m tools.teams_webhook: store a channel's URL, refresh its API destination, never print the URL."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber

from config import load_config
from tests.config_cases import example_config
from tools import teams_webhook

URL = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx9-abc_DEF123ghiJKLmnoPQRstuVWXyz0123456789"
)


@pytest.fixture
def aws() -> Iterator[dict[str, tuple[Any, Stubber]]]:
    clients = {
        name: boto3.client(name, region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
        for name in ("secretsmanager", "lambda")
    }
    stubs = {name: Stubber(client) for name, client in clients.items()}
    for stub in stubs.values():
        stub.activate()
    yield {name: (clients[name], stubs[name]) for name in clients}
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def expect_put(aws: dict[str, tuple[Any, Stubber]], secret: str, value: Any = URL) -> None:
    aws["secretsmanager"][1].add_response(
        "put_secret_value",
        {
            "ARN": f"arn:aws:secretsmanager:eu-west-1:111111111111:secret:{secret}-AbCdEf",
            "Name": secret,
            "VersionId": "v" * 32,
        },
        {"SecretId": secret, "SecretString": value},
    )


def run(
    aws: dict[str, tuple[Any, Stubber]],
    channel: str,
    stdin: str,
    monkeypatch: pytest.MonkeyPatch,
    *options: str,
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return teams_webhook.main(["--channel", channel, *options], client=lambda name: aws[name][0])


def test_an_api_destination_channel_is_stored_then_refreshed(
    aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expect_put(aws, "acme/teams/announcements")
    payload = json.dumps({"channels": {"announcements": "configured"}}).encode()
    aws["lambda"][1].add_response(
        "invoke",
        {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))},
        {
            "FunctionName": "acme-notifications-teams-destinations",
            "InvocationType": "RequestResponse",
            "Payload": json.dumps({"sync": ["announcements"]}).encode(),
        },
    )
    assert run(aws, "announcements", URL + "\n", monkeypatch) == 0
    out = capsys.readouterr()
    assert "API destination acme-teams-announcements: configured" in out.out
    assert "sig=" not in out.out + out.err and "workflows/" not in out.out + out.err


def test_a_notifier_channel_is_only_stored(
    aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expect_put(aws, "acme/teams/releases")
    assert run(aws, "releases", URL, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "within 5 minutes" in out
    assert "python -m tools.notifications redrive --channel releases" in out and "acme-notify-releases-dlq.fifo" in out


def test_a_failed_refresh_is_reported(
    aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expect_put(aws, "acme/teams/announcements")
    payload = json.dumps({"errorMessage": "connection acme-teams-announcements is FAILED"}).encode()
    aws["lambda"][1].add_response(
        "invoke",
        {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": StreamingBody(io.BytesIO(payload), len(payload))},
    )
    assert run(aws, "announcements", URL, monkeypatch) == 2
    assert "is FAILED" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://prod-12.westeurope.logic.azure.com/workflows/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("prod-12.westeurope.logic.azure.com/workflows/x", "absolute https"),
        ("", "https"),
    ],
)
def test_what_is_not_a_workflows_url_is_refused_before_anything_changes(
    aws: dict[str, tuple[Any, Stubber]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    why: str,
) -> None:
    assert run(aws, "releases", url, monkeypatch) == 2
    assert why in capsys.readouterr().err


def test_an_unknown_channel_names_the_channels_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(teams_webhook.WebhookError, match="releases, alerts, announcements"):
        teams_webhook.channel_of(load_config(), "nope")


# --------------------------------------------------------------------------------------
# Any https host: Workflows URLs moved from *.logic.azure.com to Power Platform hosts
# --------------------------------------------------------------------------------------

POWER_PLATFORM_URL = (
    "https://default0a1b2c3d4e5f60718293a4b5c6d7e8.f9.environment.api.powerplatform.com:443/powerautomate/automations"
    "/direct/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke"
    "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx9-abc_DEF123ghiJKLmnoPQRstuVWXyz0123456789"
)


@pytest.mark.parametrize("url", [POWER_PLATFORM_URL, URL, "https://relay.example.com/teams/releases?sig=abc"])
def test_any_https_host_is_stored(
    url: str, aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expect_put(aws, "acme/teams/releases", url)
    assert run(aws, "releases", f"  {url}\n", monkeypatch) == 0
    out = capsys.readouterr()
    assert "sig=" not in out.out + out.err


# --------------------------------------------------------------------------------------
# Entra ID client credentials for a trigger restricted to the tenant
# --------------------------------------------------------------------------------------

TENANT = "0a1b2c3d-1111-2222-3333-444455556666"
CLIENT = "9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"
CLIENT_SECRET = "Cl1ent~S3cret.value-not-its-id"
ENTRA_OPTIONS = ("--entra-tenant-id", TENANT, "--entra-client-id", CLIENT)


class SecretValue:
    """Matches a put_secret_value SecretString that is the JSON form with these contents."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and json.loads(other) == self.expected

    def __repr__(self) -> str:
        return f"SecretValue({self.expected!r})"


def entra_document(url: str = POWER_PLATFORM_URL, **entra: str) -> dict[str, Any]:
    return {
        "url": url,
        "entra": {
            "tenant_id": TENANT,
            "client_id": CLIENT,
            "client_secret": CLIENT_SECRET,
            "scope": "https://service.flow.microsoft.com//.default",
        }
        | entra,
    }


def test_credentials_are_stored_with_the_url_from_stdin(
    aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expect_put(aws, "acme/teams/releases", SecretValue(entra_document()))
    assert run(aws, "releases", f"{POWER_PLATFORM_URL}\r\n{CLIENT_SECRET}\n", monkeypatch, *ENTRA_OPTIONS) == 0
    out = capsys.readouterr()
    assert f"Entra client credentials of {CLIENT}" in out.out
    assert CLIENT_SECRET not in out.out + out.err and "sig=" not in out.out + out.err


class Terminal:
    """Standard input that is a terminal: the tool must prompt (getpass), not read it."""

    def isatty(self) -> bool:
        return True

    def read(self, *args: Any) -> str:
        raise AssertionError("read a terminal instead of prompting")


def test_credentials_are_asked_for_at_a_terminal(
    aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []
    answers = iter([POWER_PLATFORM_URL, CLIENT_SECRET])

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr(teams_webhook.getpass, "getpass", getpass)
    expect_put(
        aws,
        "acme/teams/releases",
        SecretValue(entra_document(scope="api://flows/.default", authority="https://login.microsoftonline.us")),
    )
    options = (*ENTRA_OPTIONS, "--entra-scope", "api://flows/.default")
    options += ("--entra-authority", "https://login.microsoftonline.us/")
    assert teams_webhook.main(["--channel", "releases", *options], client=lambda name: aws[name][0]) == 0
    assert prompts == ["Workflows webhook URL of releases: ", f"client secret of {CLIENT}: "]
    assert CLIENT_SECRET not in capsys.readouterr().out


def test_the_stored_json_is_what_the_notifier_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tool's JSON and the notifier's parser agree (the notifier's module, on its own path)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "lambda" / "teams_notifier"))
    from notifier_secrets import EntraCredentials, Webhook, parse_webhook

    entra = teams_webhook.check_entra(f" {TENANT} ", CLIENT, f"{CLIENT_SECRET}\n")
    assert parse_webhook(teams_webhook.secret_value(POWER_PLATFORM_URL, entra)) == Webhook(
        POWER_PLATFORM_URL, EntraCredentials(TENANT, CLIENT, CLIENT_SECRET, teams_webhook.DEFAULT_ENTRA_SCOPE)
    )
    custom = teams_webhook.check_entra(TENANT, CLIENT, CLIENT_SECRET, "s/.default", "https://login.example.us/")
    parsed = parse_webhook(teams_webhook.secret_value(URL, custom)).entra
    assert parsed is not None and (parsed.scope, parsed.authority) == ("s/.default", "https://login.example.us")
    assert teams_webhook.secret_value(URL) == URL  # without credentials: the plain URL, as before


def test_the_client_secret_is_never_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    for option in ("--entra-client-secret", "--client-secret", "--secret"):
        with pytest.raises(SystemExit) as raised:
            teams_webhook.main(["--channel", "releases", *ENTRA_OPTIONS, option, CLIENT_SECRET])
        assert raised.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "stdin", "why"),
    [
        (ENTRA_OPTIONS, f"{POWER_PLATFORM_URL}\n", "no client secret"),
        (ENTRA_OPTIONS, f"{POWER_PLATFORM_URL}\n{CLIENT_SECRET}\nmore", "one line"),
        (ENTRA_OPTIONS, f"{POWER_PLATFORM_URL}\n{CLIENT_SECRET} x", "one line"),
        (("--entra-tenant-id", "a/b", "--entra-client-id", CLIENT), f"{URL}\n{CLIENT_SECRET}", "--entra-tenant-id"),
        (("--entra-tenant-id", TENANT, "--entra-client-id", " "), f"{URL}\n{CLIENT_SECRET}", "--entra-client-id"),
        ((*ENTRA_OPTIONS, "--entra-scope", " "), f"{URL}\n{CLIENT_SECRET}", "--entra-scope"),
        ((*ENTRA_OPTIONS, "--entra-authority", "http://login.x"), f"{URL}\n{CLIENT_SECRET}", "--entra-authority"),
        (ENTRA_OPTIONS, f"http://hooks.example.com/x\n{CLIENT_SECRET}", "https"),
    ],
)
def test_unusable_credentials_are_refused_before_anything_changes(
    aws: dict[str, tuple[Any, Stubber]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    stdin: str,
    why: str,
) -> None:
    assert run(aws, "releases", stdin, monkeypatch, *options) == 2
    err = capsys.readouterr().err
    assert why in err
    assert CLIENT_SECRET not in err


def test_credentials_are_refused_for_an_api_destination_channel(
    aws: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EventBridge posts those channels' cards and would send no token: nothing is asked, nothing stored."""
    stdin = f"{URL}\n{CLIENT_SECRET}"
    assert run(aws, "announcements", stdin, monkeypatch, *ENTRA_OPTIONS) == 2
    assert "EventBridge API destination" in capsys.readouterr().err
    assert sys.stdin.read() == stdin  # refused before reading the URL or the secret


def test_tenant_and_client_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    for options in (("--entra-tenant-id", TENANT), ("--entra-client-id", CLIENT)):
        with pytest.raises(SystemExit) as raised:
            teams_webhook.main(["--channel", "releases", *options])
        assert raised.value.code == 2
    assert "go together" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# amazon_q channels have no webhook: refused before anything is read or stored
# --------------------------------------------------------------------------------------

AMAZON_Q = {
    "team_id": "19b2c3d4-0000-4000-8000-00000000abcd",
    "channel_id": "19:a1b2c3d4e5f6@thread.tacv2",
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
}


@pytest.fixture
def amazon_q_config(tmp_path: Path) -> Path:
    """The example config plus `ops`, an amazon_q channel, as a file for -c."""
    data = example_config()
    data["notifications"]["channels"].append({"name": "ops", "delivery": "amazon_q", "amazon_q": AMAZON_Q})
    data["notifications"]["routes"].append({"events": ["pipeline_failed"], "channels": ["ops"]})
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("options", [(), ENTRA_OPTIONS], ids=["url", "url-and-entra"])
def test_an_amazon_q_channel_is_refused_without_touching_secrets_manager(
    aws: dict[str, tuple[Any, Stubber]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    amazon_q_config: Path,
    options: tuple[str, ...],
) -> None:
    """No expected calls on the Stubbers: any Secrets Manager or Lambda call would fail the test."""
    stdin = f"{URL}\n{CLIENT_SECRET}"
    assert run(aws, "ops", stdin, monkeypatch, "-c", str(amazon_q_config), *options) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "teams_webhook: ops is delivered by Amazon Q Developer in chat applications (delivery: amazon_q)"
    )
    assert "no webhook URL" in err and "python -m tools.bootstrap lists the step" in err
    assert "`delivery: lambda`" in err
    assert sys.stdin.read() == stdin  # refused before reading the URL or the secret
    assert "sig=" not in err and CLIENT_SECRET not in err


def test_store_refuses_an_amazon_q_channel_too(amazon_q_config: Path) -> None:
    config = load_config(amazon_q_config)
    ops = teams_webhook.channel_of(config, "ops")

    def no_client(name: str) -> Any:
        raise AssertionError(f"asked for a {name} client")

    with pytest.raises(teams_webhook.WebhookError, match="has no webhook URL"):
        teams_webhook.store(config, ops, URL, no_client)
