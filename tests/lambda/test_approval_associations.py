"""Tests of the approval-rule-template association custom resource (lambda/approval_associations).

CodeCommit is a real botocore client under botocore.stub.Stubber (moto has no approval rule
template APIs): every call must be queued with its exact parameters, validated against the
service model, and an unqueued call fails the test. CloudFormation's presigned ResponseURL is a
real HTTP server on 127.0.0.1 that records the PUT the handler answers with.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from notifier_helpers import Reply, WebhookServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "approval_associations"))

import approval_associations

TEMPLATE = "acme-pr-validation-main"
RESPONSE_PATH = "/cloudformation-response"


@pytest.fixture
def codecommit() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "codecommit", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def responses(shared_server: WebhookServer, monkeypatch: pytest.MonkeyPatch) -> WebhookServer:
    shared_server.reset()
    monkeypatch.setattr(approval_associations.time, "sleep", lambda _seconds: None)
    return shared_server


def event(server: WebhookServer, request: str, repositories: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:acme-approval-associations",
        "ResponseURL": f"http://127.0.0.1:{server.port}{RESPONSE_PATH}?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/acme-pull-requests/guid",
        "RequestId": "request-1",
        "LogicalResourceId": "Associationsmain1A2B3C4D",
        "ResourceType": "Custom::ApprovalRuleTemplateAssociation",
        "ResourceProperties": {"ServiceToken": "arn", "TemplateName": TEMPLATE, "Repositories": repositories},
        **extra,
    }


def answer(server: WebhookServer) -> dict[str, Any]:
    (put,) = server.puts(RESPONSE_PATH)
    assert put.headers.get("Content-Type", "") == ""  # the presigned URL was signed without one
    body: dict[str, Any] = put.json()
    return body


def _expect(
    stubber: Stubber, operation: str, done_key: str, names: list[str], errors: list[dict[str, str]] | None
) -> None:
    refused = {e["repositoryName"] for e in errors or []}
    stubber.add_response(
        operation,
        {done_key: [n for n in names if n not in refused], "errors": errors or []},
        {"approvalRuleTemplateName": TEMPLATE, "repositoryNames": names},
    )


def expect_associate(stubber: Stubber, names: list[str], errors: list[dict[str, str]] | None = None) -> None:
    _expect(
        stubber, "batch_associate_approval_rule_template_with_repositories", "associatedRepositoryNames", names, errors
    )


def expect_disassociate(stubber: Stubber, names: list[str], errors: list[dict[str, str]] | None = None) -> None:
    _expect(
        stubber,
        "batch_disassociate_approval_rule_template_from_repositories",
        "disassociatedRepositoryNames",
        names,
        errors,
    )


def test_create_associates_every_repository_in_batches_of_25_and_answers_success(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    names = [f"acme-service-{i:02d}" for i in range(30)]
    expect_associate(stubber, names[:25])
    expect_associate(stubber, names[25:])
    approval_associations.handler(event(responses, "Create", [*reversed(names), names[0]]), None, client)
    body = answer(responses)
    assert body == {
        "Status": "SUCCESS",
        "Reason": "done",
        "PhysicalResourceId": f"{TEMPLATE}:associations",
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/acme-pull-requests/guid",
        "RequestId": "request-1",
        "LogicalResourceId": "Associationsmain1A2B3C4D",
    }


def test_update_disassociates_the_repositories_no_longer_listed(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    expect_disassociate(stubber, ["acme-orders"])
    expect_associate(stubber, ["acme-pricing", "acme-storefront"])
    request = event(
        responses,
        "Update",
        ["acme-storefront", "acme-pricing"],
        PhysicalResourceId=f"{TEMPLATE}:associations",
        OldResourceProperties={
            "TemplateName": TEMPLATE,
            "Repositories": ["acme-orders", "acme-pricing", "acme-storefront"],
        },
    )
    approval_associations.handler(request, None, client)
    body = answer(responses)
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", f"{TEMPLATE}:associations")


def test_update_that_only_adds_reassociates_without_disassociating(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    expect_associate(stubber, ["acme-orders", "acme-pricing"])
    request = event(
        responses,
        "Update",
        ["acme-orders", "acme-pricing"],
        PhysicalResourceId=f"{TEMPLATE}:associations",
        OldResourceProperties={"TemplateName": TEMPLATE, "Repositories": ["acme-orders"]},
    )
    approval_associations.handler(request, None, client)
    assert answer(responses)["Status"] == "SUCCESS"


def test_update_to_another_template_gets_a_new_physical_id_so_cloudformation_deletes_the_old(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    expect_associate(stubber, ["acme-orders"])
    request = event(
        responses,
        "Update",
        ["acme-orders"],
        PhysicalResourceId="acme-pr-validation-develop:associations",
        OldResourceProperties={"TemplateName": "acme-pr-validation-develop", "Repositories": ["acme-orders"]},
    )
    approval_associations.handler(request, None, client)
    assert answer(responses)["PhysicalResourceId"] == f"{TEMPLATE}:associations"


def test_delete_disassociates_and_tolerates_what_is_already_gone(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    expect_disassociate(
        stubber,
        ["acme-orders", "acme-pricing", "acme-storefront"],
        errors=[
            {"repositoryName": "acme-orders", "errorCode": "RepositoryDoesNotExistException", "errorMessage": "gone"},
            {"repositoryName": "acme-pricing", "errorCode": "EncryptionKeyDisabledException", "errorMessage": "key"},
        ],
    )
    request = event(
        responses,
        "Delete",
        ["acme-storefront", "acme-pricing", "acme-orders"],
        PhysicalResourceId=f"{TEMPLATE}:associations",
    )
    approval_associations.handler(request, None, client)
    # A failed Delete would leave the stack in DELETE_FAILED over a left-behind association.
    assert answer(responses)["Status"] == "SUCCESS"


def test_delete_of_a_template_that_no_longer_exists_succeeds(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    stubber.add_client_error(
        "batch_disassociate_approval_rule_template_from_repositories",
        service_error_code="ApprovalRuleTemplateDoesNotExistException",
        expected_params={"approvalRuleTemplateName": TEMPLATE, "repositoryNames": ["acme-orders"]},
    )
    approval_associations.handler(
        event(responses, "Delete", ["acme-orders"], PhysicalResourceId="Associationsmain1A2B3C4D:failed"), None, client
    )
    body = answer(responses)
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", "Associationsmain1A2B3C4D:failed")


def test_create_that_codecommit_refuses_fails_with_each_repository_and_reason(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    expect_associate(
        stubber,
        ["acme-orders", "acme-typo"],
        errors=[{"repositoryName": "acme-typo", "errorCode": "RepositoryDoesNotExistException", "errorMessage": "no"}],
    )
    approval_associations.handler(event(responses, "Create", ["acme-orders", "acme-typo"]), None, client)
    body = answer(responses)
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        f"AssociationError: could not associate {TEMPLATE} with acme-typo: RepositoryDoesNotExistException no"
    )
    # Nothing was created: the rollback's Delete carries this id and disassociates what did get associated.
    assert body["PhysicalResourceId"] == "Associationsmain1A2B3C4D:failed"


def test_update_that_cannot_disassociate_fails_so_cloudformation_rolls_back(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    expect_disassociate(
        stubber,
        ["acme-orders"],
        errors=[
            {"repositoryName": "acme-orders", "errorCode": "EncryptionKeyAccessDeniedException", "errorMessage": "kms"}
        ],
    )
    request = event(
        responses,
        "Update",
        [],
        PhysicalResourceId=f"{TEMPLATE}:associations",
        OldResourceProperties={"TemplateName": TEMPLATE, "Repositories": ["acme-orders"]},
    )
    approval_associations.handler(request, None, client)
    body = answer(responses)
    assert body["Status"] == "FAILED"
    assert "acme-orders: EncryptionKeyAccessDeniedException kms" in body["Reason"]
    assert body["PhysicalResourceId"] == f"{TEMPLATE}:associations"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Repositories": "acme-orders"}, "ResourceProperties.Repositories must be a list of repository names"),
        ({"TemplateName": ""}, "ResourceProperties.TemplateName must be a non-empty string, got ''"),
    ],
)
def test_malformed_properties_fail_naming_the_field(
    codecommit: tuple[Any, Stubber], responses: WebhookServer, change: dict[str, Any], reason: str
) -> None:
    client, _ = codecommit  # no call queued: any CodeCommit call fails the test
    request = event(responses, "Create", [])
    request["ResourceProperties"].update(change)
    approval_associations.handler(request, None, client)
    body = answer(responses)
    assert body["Status"] == "FAILED"
    assert reason in body["Reason"]


def test_unknown_request_type_fails(codecommit: tuple[Any, Stubber], responses: WebhookServer) -> None:
    client, _ = codecommit
    approval_associations.handler(event(responses, "Replace", ["acme-orders"]), None, client)
    assert "RequestType must be Create, Update or Delete, got 'Replace'" in answer(responses)["Reason"]


def test_the_answer_is_retried_when_the_response_url_fails(
    codecommit: tuple[Any, Stubber], responses: WebhookServer
) -> None:
    client, stubber = codecommit
    responses.script_path(RESPONSE_PATH, Reply(status=503), Reply(status=200))
    expect_associate(stubber, ["acme-orders"])
    approval_associations.handler(event(responses, "Create", ["acme-orders"]), None, client)
    puts = responses.puts(RESPONSE_PATH)
    assert len(puts) == 2
    assert puts[0].body == puts[1].body
    assert json.loads(puts[1].body)["Status"] == "SUCCESS"


def test_a_response_url_that_is_not_https_is_refused(codecommit: tuple[Any, Stubber], responses: WebhookServer) -> None:
    client, stubber = codecommit
    expect_associate(stubber, ["acme-orders"])
    request = event(responses, "Create", ["acme-orders"])
    request["ResponseURL"] = "file:///etc/passwd"
    with pytest.raises(ValueError, match="ResponseURL must be an https URL"):
        approval_associations.handler(request, None, client)
    assert responses.requests == []
