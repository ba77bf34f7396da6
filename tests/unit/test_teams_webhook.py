"""python -m tools.teams_webhook: store a channel's URL, refresh its API destination, never print the URL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from config import load_config
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


def expect_put(aws: dict[str, tuple[Any, Stubber]], secret: str) -> None:
    aws["secretsmanager"][1].add_response(
        "put_secret_value",
        {
            "ARN": f"arn:aws:secretsmanager:eu-west-1:111111111111:secret:{secret}-AbCdEf",
            "Name": secret,
            "VersionId": "v" * 32,
        },
        {"SecretId": secret, "SecretString": URL},
    )


def run(aws: dict[str, tuple[Any, Stubber]], channel: str, stdin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return teams_webhook.main(["--channel", channel], client=lambda name: aws[name][0])


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
    assert "within 5 minutes" in capsys.readouterr().out


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
        ("https://hooks.example.com/x", "not a Teams Workflows host"),
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
