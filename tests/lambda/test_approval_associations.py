"""Tests of the approval-rule-template association custom resource (lambda/approval_associations).

CodeCommit is a real botocore client under botocore.stub.Stubber (moto has no approval rule
template APIs): every call must be queued with its exact parameters, validated against the
service model, and an unqueued call fails the test. The handler runs behind aws-cdk-lib's provider
framework, which answers CloudFormation: success is the returned dict, failure the raised error
(its message goes into the Reason). The framework passes the ResponseURL on: one test checks, with
a real HTTP server on 127.0.0.1 as the ResponseURL, that the handler never answers it itself.
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
from botocore.stub import Stubber
from notifier_helpers import WebhookServer

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
def responses(shared_server: WebhookServer) -> WebhookServer:
    shared_server.reset()
    return shared_server


def event(request: str, repositories: list[str], **extra: Any) -> dict[str, Any]:
    """A request as the provider framework hands it over (with CloudFormation's ResponseURL, which it answers)."""
    return {
        "RequestType": request,
        "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:acme-approval-associations-provider",
        "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x?X-Amz-Signature=a",
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/acme-pull-requests/guid",
        "RequestId": "request-1",
        "LogicalResourceId": "Associationsmain1A2B3C4D",
        "ResourceType": "Custom::ApprovalRuleTemplateAssociation",
        "ResourceProperties": {"ServiceToken": "arn", "TemplateName": TEMPLATE, "Repositories": repositories},
        **extra,
    }


def answer(request: dict[str, Any], client: Any) -> dict[str, Any]:
    """What the provider framework sends CloudFormation as SUCCESS (PhysicalResourceId and Data)."""
    return approval_associations.on_event(request, client)


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
    codecommit: tuple[Any, Stubber],
) -> None:
    client, stubber = codecommit
    names = [f"acme-service-{i:02d}" for i in range(30)]
    expect_associate(stubber, names[:25])
    expect_associate(stubber, names[25:])
    assert answer(event("Create", [*reversed(names), names[0]]), client) == {
        "PhysicalResourceId": f"{TEMPLATE}:associations",
        "Data": {"TemplateName": TEMPLATE},
    }


def test_update_disassociates_the_repositories_no_longer_listed(codecommit: tuple[Any, Stubber]) -> None:
    client, stubber = codecommit
    expect_disassociate(stubber, ["acme-orders"])
    expect_associate(stubber, ["acme-pricing", "acme-storefront"])
    request = event(
        "Update",
        ["acme-storefront", "acme-pricing"],
        PhysicalResourceId=f"{TEMPLATE}:associations",
        OldResourceProperties={
            "TemplateName": TEMPLATE,
            "Repositories": ["acme-orders", "acme-pricing", "acme-storefront"],
        },
    )
    assert answer(request, client)["PhysicalResourceId"] == f"{TEMPLATE}:associations"


def test_update_that_only_adds_reassociates_without_disassociating(codecommit: tuple[Any, Stubber]) -> None:
    client, stubber = codecommit
    expect_associate(stubber, ["acme-orders", "acme-pricing"])
    request = event(
        "Update",
        ["acme-orders", "acme-pricing"],
        PhysicalResourceId=f"{TEMPLATE}:associations",
        OldResourceProperties={"TemplateName": TEMPLATE, "Repositories": ["acme-orders"]},
    )
    assert answer(request, client)["PhysicalResourceId"] == f"{TEMPLATE}:associations"


def test_update_to_another_template_gets_a_new_physical_id_so_cloudformation_deletes_the_old(
    codecommit: tuple[Any, Stubber],
) -> None:
    client, stubber = codecommit
    expect_associate(stubber, ["acme-orders"])
    request = event(
        "Update",
        ["acme-orders"],
        PhysicalResourceId="acme-pr-validation-develop:associations",
        OldResourceProperties={"TemplateName": "acme-pr-validation-develop", "Repositories": ["acme-orders"]},
    )
    assert answer(request, client)["PhysicalResourceId"] == f"{TEMPLATE}:associations"


def test_delete_disassociates_and_tolerates_what_is_already_gone(codecommit: tuple[Any, Stubber]) -> None:
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
        "Delete",
        ["acme-storefront", "acme-pricing", "acme-orders"],
        PhysicalResourceId=f"{TEMPLATE}:associations",
    )
    # A failed Delete would leave the stack in DELETE_FAILED over a left-behind association.
    # The framework refuses a Delete answer with another physical id.
    assert answer(request, client)["PhysicalResourceId"] == f"{TEMPLATE}:associations"


def test_delete_of_a_template_that_no_longer_exists_succeeds(codecommit: tuple[Any, Stubber]) -> None:
    client, stubber = codecommit
    stubber.add_client_error(
        "batch_disassociate_approval_rule_template_from_repositories",
        service_error_code="ApprovalRuleTemplateDoesNotExistException",
        expected_params={"approvalRuleTemplateName": TEMPLATE, "repositoryNames": ["acme-orders"]},
    )
    request = event("Delete", ["acme-orders"], PhysicalResourceId="Associationsmain1A2B3C4D:failed")
    assert answer(request, client)["PhysicalResourceId"] == "Associationsmain1A2B3C4D:failed"


def test_create_that_codecommit_refuses_fails_with_each_repository_and_reason(
    codecommit: tuple[Any, Stubber],
) -> None:
    client, stubber = codecommit
    expect_associate(
        stubber,
        ["acme-orders", "acme-typo"],
        errors=[{"repositoryName": "acme-typo", "errorCode": "RepositoryDoesNotExistException", "errorMessage": "no"}],
    )
    # The framework skips the Delete that follows a failed Create, so the handler disassociates
    # what did get associated (what the rollback's Delete did before) and then fails.
    expect_disassociate(
        stubber,
        ["acme-orders", "acme-typo"],
        errors=[{"repositoryName": "acme-typo", "errorCode": "RepositoryDoesNotExistException", "errorMessage": "no"}],
    )
    with pytest.raises(approval_associations.AssociationError) as failed:
        answer(event("Create", ["acme-orders", "acme-typo"]), client)
    assert str(failed.value) == f"could not associate {TEMPLATE} with acme-typo: RepositoryDoesNotExistException no"


def test_a_failed_create_whose_undo_fails_too_reports_the_create_error(codecommit: tuple[Any, Stubber]) -> None:
    client, stubber = codecommit
    expect_associate(
        stubber,
        ["acme-orders"],
        errors=[
            {"repositoryName": "acme-orders", "errorCode": "EncryptionKeyAccessDeniedException", "errorMessage": "kms"}
        ],
    )
    stubber.add_client_error(
        "batch_disassociate_approval_rule_template_from_repositories",
        service_error_code="EncryptionKeyDisabledException",
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(approval_associations.logger.registered_formatter)
    approval_associations.logger.addHandler(handler)
    try:
        with pytest.raises(approval_associations.AssociationError, match=r"could not associate .* EncryptionKeyAccess"):
            answer(event("Create", ["acme-orders"]), client)
    finally:
        approval_associations.logger.handlers.remove(handler)
    [undo] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert undo["message"] == "could not undo the associations of the failed create"
    assert "EncryptionKeyDisabledException" in undo["exception"]


def test_update_that_cannot_disassociate_fails_so_cloudformation_rolls_back(codecommit: tuple[Any, Stubber]) -> None:
    client, stubber = codecommit
    expect_disassociate(
        stubber,
        ["acme-orders"],
        errors=[
            {"repositoryName": "acme-orders", "errorCode": "EncryptionKeyAccessDeniedException", "errorMessage": "kms"}
        ],
    )
    request = event(
        "Update",
        [],
        PhysicalResourceId=f"{TEMPLATE}:associations",
        OldResourceProperties={"TemplateName": TEMPLATE, "Repositories": ["acme-orders"]},
    )
    # The framework answers FAILED with the request's PhysicalResourceId, so CloudFormation rolls back.
    with pytest.raises(
        approval_associations.AssociationError, match="acme-orders: EncryptionKeyAccessDeniedException kms"
    ):
        answer(request, client)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Repositories": "acme-orders"}, "ResourceProperties.Repositories must be a list of repository names"),
        ({"TemplateName": ""}, "ResourceProperties.TemplateName must be a non-empty string, got ''"),
    ],
)
def test_malformed_properties_fail_naming_the_field(
    codecommit: tuple[Any, Stubber], change: dict[str, Any], reason: str
) -> None:
    client, _ = codecommit  # no call queued: any CodeCommit call fails the test
    request = event("Create", [])
    request["ResourceProperties"].update(change)
    with pytest.raises(ValueError) as failed:
        answer(request, client)
    assert reason in str(failed.value)


def test_unknown_request_type_fails(codecommit: tuple[Any, Stubber]) -> None:
    client, _ = codecommit
    with pytest.raises(ValueError) as failed:
        answer(event("Replace", ["acme-orders"]), client)
    assert "RequestType must be Create, Update or Delete, got 'Replace'" in str(failed.value)


class FakeContext:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    aws_request_id = "req-123"
    function_name = "acme-approval-associations"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111111111111:function:acme-approval-associations"


def test_the_handler_never_answers_cloudformation_itself(
    codecommit: tuple[Any, Stubber], responses: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider framework answers (and retries the answer): a PUT of ours would be a second answer."""
    client, stubber = codecommit
    monkeypatch.setattr(approval_associations, "_client", lambda: client)
    expect_associate(stubber, ["acme-orders"])
    request = event("Create", ["acme-orders"])
    request["ResponseURL"] = f"http://127.0.0.1:{responses.port}{RESPONSE_PATH}?X-Amz-Signature=abc"
    assert approval_associations.handler(request, FakeContext())["PhysicalResourceId"] == f"{TEMPLATE}:associations"
    with pytest.raises(ValueError, match="RequestType"):
        approval_associations.handler({**request, "RequestType": "Replace"}, FakeContext())
    assert responses.requests == []
