"""The function that keeps api_destination channels on the URLs in their secrets (lambda/teams_destinations).

EventBridge and Secrets Manager are real botocore clients under botocore.stub.Stubber: every call
is queued with its exact parameters and validated against the service model.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "teams_destinations"))

import teams_destinations as td

REGION = "eu-west-1"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:acme/teams/announcements-AbCdEf"
SIGNATURE = "Zx9-abc_DEF123ghiJKLmnoPQRstuVWXyz0123456789"
URL = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"
    f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIGNATURE}"
)
ENDPOINT = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
)
NAME = "acme-teams-announcements"
CONNECTION_ARN = f"arn:aws:events:eu-west-1:111111111111:connection/{NAME}/11111111-2222-3333-4444-555555555555"
DESTINATION_ARN = f"arn:aws:events:eu-west-1:111111111111:api-destination/{NAME}/66666666-7777-8888-9999-000000000000"
CONNECTION_SECRET = f"arn:aws:secretsmanager:eu-west-1:111111111111:secret:events!connection/{NAME}/abc-XyZ123"
PROPERTIES = {
    "Channel": "announcements",
    "Name": NAME,
    "SecretId": SECRET_ARN,
    "Description": "Teams announcements channel",
    "RateLimitPerSecond": "2",  # CloudFormation hands every property over as a string
}


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def stubs() -> Iterator[tuple[td.Destinations, Stubber, Stubber]]:
    events, secrets = client("events"), client("secretsmanager")
    with Stubber(events) as events_stub, Stubber(secrets) as secrets_stub:
        yield td.Destinations(events, secrets, sleep=lambda _seconds: None), events_stub, secrets_stub
        events_stub.assert_no_pending_responses()
        secrets_stub.assert_no_pending_responses()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the function logs, through its Powertools handler's formatter (the one that redacts)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(td.logger.registered_formatter)
    td.logger.addHandler(handler)
    yield stream
    td.logger.handlers.remove(handler)


def expect_secret(secrets: Stubber, value: str) -> None:
    secrets.add_response(
        "get_secret_value",
        {"ARN": SECRET_ARN, "Name": "acme/teams/announcements", "SecretString": value},
        {"SecretId": SECRET_ARN},
    )


def expect_authorized(events: Stubber, *states: str) -> None:
    for state in (*states, "AUTHORIZED"):
        events.add_response(
            "describe_connection",
            {"ConnectionArn": CONNECTION_ARN, "Name": NAME, "ConnectionState": state, "SecretArn": CONNECTION_SECRET},
            {"Name": NAME},
        )


def expect_connection_update(events: Stubber, signature: str | None) -> None:
    """The connection exists: it is updated in place, with (or without) the signature parameter."""
    events.add_response("describe_connection", {"ConnectionArn": CONNECTION_ARN, "Name": NAME}, {"Name": NAME})
    events.add_response(
        "update_connection",
        {"ConnectionArn": CONNECTION_ARN},
        {
            "Name": NAME,
            "Description": "Teams announcements channel",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {"InvocationHttpParameters": signature_parameter(signature)},
        },
    )


def destination_params(endpoint: str) -> dict[str, Any]:
    return {
        "Name": NAME,
        "Description": "Teams announcements channel",
        "ConnectionArn": CONNECTION_ARN,
        "InvocationEndpoint": endpoint,
        "HttpMethod": "POST",
        "InvocationRateLimitPerSecond": 2,
    }


def signature_parameter(signature: str | None) -> dict[str, Any]:
    parameters = [{"Key": "sig", "Value": signature, "IsValueSecret": True}] if signature else []
    return {"QueryStringParameters": parameters}


# ----- the URL -----


def test_a_workflows_url_splits_into_endpoint_and_signature() -> None:
    target = td.target_for("announcements", URL)
    assert target == td.Target(ENDPOINT, SIGNATURE)
    assert target.configured


@pytest.mark.parametrize("value", [json.dumps({"url": URL}), f"  {URL}\n"])
def test_the_secret_may_hold_the_url_plain_or_as_json(value: str) -> None:
    assert td.target_for("announcements", value) == td.Target(ENDPOINT, SIGNATURE)


@pytest.mark.parametrize("value", ['{"url": ""}', "", "not a url", "http://example.com/hook", "{broken", "[1]"])
def test_without_an_https_url_the_endpoint_is_the_undeliverable_placeholder(value: str) -> None:
    target = td.target_for("announcements", value)
    assert target == td.Target("https://teams-webhook-not-configured.invalid/announcements", None)
    assert not target.configured


def test_a_url_without_a_signature_keeps_its_whole_query() -> None:
    url = "https://example.powerplatform.com/powerautomate/automations/direct/workflows/x/triggers/manual/paths/invoke?api-version=1"
    assert td.target_for("c", url) == td.Target(url, None)


# ----- CloudFormation requests -----


def test_create_makes_the_connection_with_the_signature_as_a_secret_parameter(
    stubs: tuple[td.Destinations, Stubber, Stubber], logs: io.StringIO
) -> None:
    destinations, events, secrets = stubs
    expect_secret(secrets, URL)
    events.add_client_error("describe_connection", "ResourceNotFoundException", expected_params={"Name": NAME})
    events.add_response(
        "create_connection",
        {"ConnectionArn": CONNECTION_ARN, "ConnectionState": "AUTHORIZING"},
        {
            "Name": NAME,
            "Description": "Teams announcements channel",
            "AuthorizationType": "API_KEY",
            "AuthParameters": {
                "ApiKeyAuthParameters": {"ApiKeyName": "x-platform-notification", "ApiKeyValue": ANY},
                "InvocationHttpParameters": signature_parameter(SIGNATURE),
            },
        },
    )
    expect_authorized(events, "AUTHORIZING")
    events.add_client_error("describe_api_destination", "ResourceNotFoundException", expected_params={"Name": NAME})
    events.add_response("create_api_destination", {"ApiDestinationArn": DESTINATION_ARN}, destination_params(ENDPOINT))

    answer = td.on_event({"RequestType": "Create", "ResourceProperties": PROPERTIES}, destinations)

    assert answer == {
        "PhysicalResourceId": NAME,
        "Data": {
            "Arn": DESTINATION_ARN,
            "ConnectionArn": CONNECTION_ARN,
            "ConnectionSecretArn": CONNECTION_SECRET,
            "Configured": "true",
        },
    }
    logged = logs.getvalue()
    assert SIGNATURE not in logged and "workflows/0a1b2c3d4e5f" not in logged
    assert [json.loads(line)["configured"] for line in logged.splitlines()] == [True]


def test_update_rereads_the_secret_and_updates_both_in_place(stubs: tuple[td.Destinations, Stubber, Stubber]) -> None:
    destinations, events, secrets = stubs
    expect_secret(secrets, '{"url": ""}')
    expect_connection_update(events, None)
    expect_authorized(events)
    events.add_response("describe_api_destination", {"ApiDestinationArn": DESTINATION_ARN}, {"Name": NAME})
    events.add_response(
        "update_api_destination",
        {"ApiDestinationArn": DESTINATION_ARN},
        destination_params("https://teams-webhook-not-configured.invalid/announcements"),
    )

    answer = td.on_event(
        {
            "RequestType": "Update",
            "PhysicalResourceId": NAME,
            "ResourceProperties": PROPERTIES,
            "OldResourceProperties": PROPERTIES,
        },
        destinations,
    )
    assert answer["PhysicalResourceId"] == NAME and answer["Data"]["Configured"] == "false"


def test_delete_removes_destination_then_connection_and_tolerates_either_gone(
    stubs: tuple[td.Destinations, Stubber, Stubber],
) -> None:
    destinations, events, _ = stubs
    events.add_response("delete_api_destination", {}, {"Name": NAME})
    events.add_client_error("delete_connection", "ResourceNotFoundException", expected_params={"Name": NAME})
    assert td.on_event({"RequestType": "Delete", "PhysicalResourceId": NAME}, destinations) == {
        "PhysicalResourceId": NAME
    }


def test_a_failed_connection_fails_the_request_with_its_reason(stubs: tuple[td.Destinations, Stubber, Stubber]) -> None:
    destinations, events, secrets = stubs
    expect_secret(secrets, URL)
    expect_connection_update(events, SIGNATURE)
    events.add_response("describe_connection", {"ConnectionState": "FAILED", "StateReason": "quota"}, {"Name": NAME})
    with pytest.raises(RuntimeError, match="FAILED: quota"):
        td.on_event(
            {"RequestType": "Update", "PhysicalResourceId": NAME, "ResourceProperties": PROPERTIES}, destinations
        )


def test_incomplete_properties_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="SecretId"):
        td.Channel.from_properties({"Channel": "a", "Name": "acme-teams-a"})


# ----- sync after a new URL -----


def test_sync_refreshes_the_requested_channels_and_says_which_are_configured(
    stubs: tuple[td.Destinations, Stubber, Stubber],
) -> None:
    destinations, events, secrets = stubs
    expect_secret(secrets, URL)
    expect_connection_update(events, SIGNATURE)
    expect_authorized(events)
    events.add_response("describe_api_destination", {"ApiDestinationArn": DESTINATION_ARN}, {"Name": NAME})
    events.add_response("update_api_destination", {"ApiDestinationArn": DESTINATION_ARN}, destination_params(ENDPOINT))

    result = td.sync([], {"announcements": PROPERTIES}, destinations)
    assert result == {"channels": {"announcements": "configured"}}
    assert URL not in json.dumps(result)


def test_sync_of_a_channel_that_is_not_an_api_destination_is_refused(
    stubs: tuple[td.Destinations, Stubber, Stubber],
) -> None:
    destinations, _, _ = stubs
    with pytest.raises(ValueError, match="releases"):
        td.sync(["releases"], {"announcements": PROPERTIES}, destinations)


def test_a_signature_that_reaches_a_log_line_is_masked(logs: io.StringIO) -> None:
    """The code logs no URL; should a bug or an exception message carry one, the formatter masks its `sig`."""
    td.logger.info("oops", url=URL)
    try:
        raise RuntimeError(f"could not reach {URL}")
    except RuntimeError:
        td.logger.exception("failed")
    logged = logs.getvalue()
    assert SIGNATURE not in logged
    assert logged.count("sig=[REDACTED]") >= 3  # the field, the exception message and its traceback
    assert [json.loads(line)["message"] for line in logged.splitlines()] == ["oops", "failed"]


class FakeContext:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    aws_request_id = "req-123"
    function_name = "acme-teams-destinations"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111111111111:function:acme-teams-destinations"


def test_the_handler_serves_the_provider_framework_and_sync(
    stubs: tuple[td.Destinations, Stubber, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    destinations, events, _ = stubs
    monkeypatch.setattr(td, "_destinations", lambda: destinations)
    monkeypatch.setenv("CHANNELS", json.dumps({"announcements": PROPERTIES}))
    events.add_response("delete_api_destination", {}, {"Name": NAME})
    events.add_response("delete_connection", {}, {"Name": NAME})
    assert td.handler({"RequestType": "Delete", "PhysicalResourceId": NAME}, FakeContext()) == {
        "PhysicalResourceId": NAME
    }
    with pytest.raises(ValueError, match="releases"):
        td.handler({"sync": ["releases"]}, FakeContext())
