"""CloudFormation custom resource: an approval rule template associated with exactly the listed repositories.

Properties: TemplateName (the approval rule template) and Repositories (repository names).

- Create: associate every listed repository.
- Update: disassociate the repositories no longer listed (from the old template, when the template
  changed), then associate every listed one again (associating is idempotent, and this repairs an
  association someone removed by hand).
- Delete: disassociate every listed repository. A repository or template that no longer exists is
  already disassociated, so that is not an error.

aws-cdk-lib's AwsCustomResource cannot do the Update: it has no access to the old properties, so a
repository dropped from the list (its service turned pull-request validation off) would stay
associated, and its pull requests would wait for an approval the validator no longer gives.

CloudFormation invokes this function asynchronously and waits for the answer on the request's
presigned ResponseURL: the handler always answers, SUCCESS or FAILED with the reason, so a failure
fails the deployment at once instead of after CloudFormation's one-hour timeout.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ClientError
from platform_logging import get_logger, set_request_id
from platform_logging import log as platform_log

_logger = get_logger("approval_associations")

# BatchAssociate/BatchDisassociate take at most 25 repository names per call.
BATCH = 25
# Per-repository error codes that mean "not associated any more" when disassociating.
GONE = frozenset({"RepositoryDoesNotExistException", "ApprovalRuleTemplateDoesNotExistException"})
RESPONSE_ATTEMPTS = 3


class AssociationError(RuntimeError):
    """CodeCommit refused some of the associations; the message names each repository and why."""


def log(level: int, message: str, **fields: Any) -> None:
    platform_log(_logger, level, message, **fields)


def _client() -> Any:
    return boto3.client("codecommit", config=BotocoreConfig(retries={"mode": "standard", "max_attempts": 5}))


def _properties(properties: Mapping[str, Any] | None, which: str) -> tuple[str, list[str]]:
    """TemplateName and Repositories (sorted, without duplicates), or ValueError naming what is wrong."""
    if not isinstance(properties, Mapping):
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
    log(logging.INFO, "associated", template=template, repositories=repositories)


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
                log(logging.INFO, "template already gone", template=template)
                return
            raise
        refused += _refused(response, tolerated=GONE)
    if refused and strict:
        raise AssociationError(f"could not disassociate {template} from " + "; ".join(refused))
    if refused:
        log(logging.WARNING, "left associated", template=template, refused=refused)
    log(logging.INFO, "disassociated", template=template, repositories=repositories)


def apply(event: Mapping[str, Any], client: Any) -> str:
    """Carry out the request; returns the physical resource id."""
    request = event.get("RequestType")
    template, repositories = _properties(event.get("ResourceProperties"), "ResourceProperties")
    physical_id = f"{template}:associations"
    if request == "Create":
        associate(client, template, repositories)
    elif request == "Update":
        old_template, old_repositories = _properties(event.get("OldResourceProperties"), "OldResourceProperties")
        if old_template != template:
            # A new physical id: CloudFormation then deletes the old one (with the old properties),
            # which disassociates the old template.
            associate(client, template, repositories)
        else:
            disassociate(client, template, sorted(set(old_repositories) - set(repositories)))
            associate(client, template, repositories)
            physical_id = str(event.get("PhysicalResourceId") or physical_id)
    elif request == "Delete":
        # Also after a failed Create (its rollback): some batches may have been associated.
        physical_id = str(event.get("PhysicalResourceId") or physical_id)
        disassociate(client, template, repositories, strict=False)
    else:
        raise ValueError(f"RequestType must be Create, Update or Delete, got {request!r}")
    return physical_id


def respond(
    event: Mapping[str, Any],
    status: str,
    physical_id: str,
    reason: str,
    opener: Callable[..., Any] = urllib.request.urlopen,
) -> None:
    """PUT the answer to the request's presigned ResponseURL (retried: CloudFormation waits for it)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
        }
    ).encode()
    url = str(event.get("ResponseURL", ""))
    parts = urllib.parse.urlsplit(url)
    # CloudFormation's presigned S3 URLs are https; plain http only to this machine (the tests' server).
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"))):
        raise ValueError(f"ResponseURL must be an https URL, got {url[:100]!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    for attempt in range(1, RESPONSE_ATTEMPTS + 1):
        try:
            with opener(request, timeout=10) as answer:
                log(logging.INFO, "answered CloudFormation", status=status, http_status=answer.status)
                return
        except OSError as error:
            log(logging.WARNING, "answer to CloudFormation failed", attempt=attempt, error=str(error))
            if attempt == RESPONSE_ATTEMPTS:
                raise
            time.sleep(attempt)


def handler(event: dict[str, Any], context: Any, client: Any = None) -> None:
    set_request_id(getattr(context, "aws_request_id", None))
    log(
        logging.INFO,
        "request",
        request_type=event.get("RequestType"),
        logical_resource_id=event.get("LogicalResourceId"),
    )
    physical_id = str(event.get("PhysicalResourceId") or f"{event.get('LogicalResourceId', 'associations')}:failed")
    try:
        physical_id = apply(event, client or _client())
    except Exception as error:  # every failure is reported to CloudFormation
        log(logging.ERROR, "request failed", error=f"{type(error).__name__}: {error}")
        respond(event, "FAILED", physical_id, f"{type(error).__name__}: {error}")
        return
    respond(event, "SUCCESS", physical_id, "done")
