"""CloudFormation custom resource: an approval rule template associated with exactly the listed repositories.

Properties: TemplateName (the approval rule template) and Repositories (repository names).

- Create: associate every listed repository. When that fails, disassociate them again before
  failing: the provider framework skips the Delete that follows a failed Create.
- Update: disassociate the repositories no longer listed (from the old template, when the template
  changed), then associate every listed one again (associating is idempotent, and this repairs an
  association someone removed by hand).
- Delete: disassociate every listed repository. A repository or template that no longer exists is
  already disassociated, so that is not an error.

aws-cdk-lib's AwsCustomResource cannot do the Update: it has no access to the old properties, so a
repository dropped from the list (its service turned pull-request validation off) would stay
associated, and its pull requests would wait for an approval the validator no longer gives.

The handler runs behind aws-cdk-lib's provider framework (`custom_resources.Provider`), which
answers CloudFormation: it returns {"PhysicalResourceId", "Data"} or raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ClientError

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "approval_associations")

# BatchAssociate/BatchDisassociate take at most 25 repository names per call.
BATCH = 25
# Per-repository error codes that mean "not associated any more" when disassociating.
GONE = frozenset({"RepositoryDoesNotExistException", "ApprovalRuleTemplateDoesNotExistException"})


class AssociationError(RuntimeError):
    """CodeCommit refused some of the associations; the message names each repository and why."""


def _client() -> Any:
    return boto3.client("codecommit", config=BotocoreConfig(retries={"mode": "standard", "max_attempts": 5}))


def _properties(properties: object, which: str) -> tuple[str, list[str]]:
    """TemplateName and Repositories (sorted, without duplicates), or ValueError naming what is wrong."""
    if not isinstance(properties, Mapping) or not properties:
        raise ValueError(f"{which} is missing")
    template = properties.get("TemplateName")
    repositories = properties.get("Repositories", [])
    if not isinstance(template, str) or not template:
        raise ValueError(f"{which}.TemplateName must be a non-empty string, got {template!r}")
    if not isinstance(repositories, list) or not all(isinstance(r, str) and r for r in repositories):
        raise ValueError(f"{which}.Repositories must be a list of repository names, got {repositories!r}")
    return template, sorted(set(repositories))


def _batches(names: Iterable[str]) -> Iterable[list[str]]:
    names = list(names)
    for start in range(0, len(names), BATCH):
        yield names[start : start + BATCH]


def _refused(response: Mapping[str, Any], tolerated: frozenset[str] = frozenset()) -> list[str]:
    """The per-repository errors of a batch call, as "<repository>: <code> <message>"."""
    return [
        f"{e.get('repositoryName')}: {e.get('errorCode')} {e.get('errorMessage', '')}".strip()
        for e in response.get("errors", [])
        if e.get("errorCode") not in tolerated
    ]


def associate(client: Any, template: str, repositories: list[str]) -> None:
    refused: list[str] = []
    for batch in _batches(repositories):
        response = client.batch_associate_approval_rule_template_with_repositories(
            approvalRuleTemplateName=template, repositoryNames=batch
        )
        refused += _refused(response)
    if refused:
        raise AssociationError(f"could not associate {template} with " + "; ".join(refused))
    logger.info("associated", template=template, repositories=repositories)


def disassociate(client: Any, template: str, repositories: list[str], *, strict: bool = True) -> None:
    """strict=False (Delete) logs what CodeCommit refused instead of failing: a failed Delete would
    leave the stack in DELETE_FAILED over an association that is only left behind."""
    refused: list[str] = []
    for batch in _batches(repositories):
        try:
            response = client.batch_disassociate_approval_rule_template_from_repositories(
                approvalRuleTemplateName=template, repositoryNames=batch
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in GONE:
                logger.info("template already gone", template=template)
                return
            raise
        refused += _refused(response, tolerated=GONE)
    if refused and strict:
        raise AssociationError(f"could not disassociate {template} from " + "; ".join(refused))
    if refused:
        logger.warning("left associated", template=template, refused=refused)
    logger.info("disassociated", template=template, repositories=repositories)


def on_event(raw: dict[str, Any], client: Any) -> dict[str, Any]:
    """Carry out one request as the provider framework hands it over."""
    event = CloudFormationCustomResourceEvent(raw)
    request = event.get("RequestType")
    template, repositories = _properties(event.resource_properties, "ResourceProperties")
    physical_id = f"{template}:associations"
    if request == "Create":
        try:
            associate(client, template, repositories)
        except Exception:
            # The framework answers with a marker id and skips the Delete of the rollback: undo the batches here.
            try:
                disassociate(client, template, repositories, strict=False)
            except Exception:
                logger.exception("could not undo the associations of the failed create", template=template)
            raise
    elif request == "Update":
        old_template, old_repositories = _properties(event.old_resource_properties, "OldResourceProperties")
        if old_template != template:
            # A new physical id: CloudFormation then deletes the old one (with the old properties),
            # which disassociates the old template.
            associate(client, template, repositories)
        else:
            disassociate(client, template, sorted(set(old_repositories) - set(repositories)))
            associate(client, template, repositories)
            physical_id = event.physical_resource_id or physical_id
    elif request == "Delete":
        physical_id = event.physical_resource_id or physical_id
        disassociate(client, template, repositories, strict=False)
    else:
        raise ValueError(f"RequestType must be Create, Update or Delete, got {request!r}")
    return {"PhysicalResourceId": physical_id, "Data": {"TemplateName": template}}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.info("request", request_type=event.get("RequestType"), logical_resource_id=event.get("LogicalResourceId"))
    try:
        return on_event(event, _client())
    except Exception:
        logger.exception("request failed")
        raise
