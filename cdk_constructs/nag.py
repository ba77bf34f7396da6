"""cdk-nag acknowledgements, each with the reason a reviewer reads."""

from __future__ import annotations

import hashlib
import re

from aws_cdk import Validations
from constructs import IConstruct

# Where Validations.of(scope).acknowledge() records acknowledgements; cdk-nag v3 and aws-cdk-lib's
# validation report read them from there.
ACKNOWLEDGED_RULES = Validations.ACKNOWLEDGED_RULES_METADATA_KEY


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `construct` (and everything below it)."""
    acknowledge_all(construct, {rule: reason})


def acknowledge_all(construct: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge several findings on one construct, recorded as Validations.acknowledge records them.

    The same metadata entry (tests/unit/test_nag.py compares the two), without the call's subtree
    walk per rule, which looks for aws-cdk-lib warnings no cdk-nag id ever matches.
    """
    for rule, reason in reasons.items():
        if len(reason.split()) < 6:
            raise ValueError(f"acknowledgement of {rule} needs a real reason, got {reason!r}")
    if reasons:
        construct.node.add_metadata(ACKNOWLEDGED_RULES, {qualified_rule_id(r): why for r, why in reasons.items()})


def qualified_rule_id(rule: str) -> str:
    """A rule id as Validations.acknowledge records it: in the annotations namespace, spaces as hyphens."""
    if "::" in rule.split("[", 1)[0]:
        raise ValueError(f"{rule!r}: cdk-nag rule ids have no plugin namespace")
    return "Annotation::" + rule.replace(" ", "-")


# Action wildcards that aws-cdk-lib grant methods emit (Bucket.grantRead/ReadWrite, Key.grantEncryptDecrypt).
# Each expands to a fixed, documented family on one resource the grant names.
GRANT_ACTION_WILDCARDS = (
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)


def acknowledge_grant_wildcards(scope: IConstruct) -> None:
    """Acknowledge the action wildcards of CDK grant methods below `scope` (never `Resource::*`)."""
    acknowledge_all(
        scope,
        {
            f"AwsSolutions-IAM5[Action::{action}]": (
                f"{action} is emitted by an aws-cdk-lib grant method (grantRead/grantReadWrite/"
                "grantEncryptDecrypt) and is scoped to the one bucket or key the grant names."
            )
            for action in GRANT_ACTION_WILDCARDS
        },
    )


def acknowledge_object_wildcard(scope: IConstruct, bucket_logical_id: str) -> None:
    """Object-level access (`<bucket>/*`) is how S3 grants name every object of one bucket."""
    acknowledge(
        scope,
        f"AwsSolutions-IAM5[Resource::<{bucket_logical_id}.Arn>/*]",
        "Object ARNs of this one bucket: pipeline artifacts are written under generated keys.",
    )


def wildcard_findings(actions: list[str], resources: list[str]) -> list[str]:
    """The AwsSolutions-IAM5 finding ids a statement with these literal actions/resources raises."""
    found = [f"Action::{a}" for a in actions if "*" in a]
    found += [f"Resource::{r}" for r in resources if "*" in r]
    return found


def acknowledge_statement(construct: IConstruct, actions: list[str], resources: list[str], reason: str) -> None:
    """Acknowledge every wildcard of one deliberately written statement, with that statement's reason."""
    acknowledge_all(
        construct, {f"AwsSolutions-IAM5[{finding}]": reason for finding in wildcard_findings(actions, resources)}
    )


def acknowledge_document(construct: IConstruct, document: dict[str, object], reasons: dict[str, str]) -> None:
    """Acknowledge the wildcards of a JSON policy document; `reasons` maps each statement Sid to its reason."""
    found: dict[str, str] = {}
    for statement in document["Statement"]:  # type: ignore[attr-defined]
        actions = statement["Action"]
        resources = statement["Resource"]
        for finding in wildcard_findings(
            [actions] if isinstance(actions, str) else list(actions),
            [resources] if isinstance(resources, str) else list(resources),
        ):
            found[f"AwsSolutions-IAM5[{finding}]"] = reasons[statement["Sid"]]
    acknowledge_all(construct, found)


def logical_id(construct: IConstruct) -> str:
    """The logical id of an L2 construct's resource (its `Resource` child), as cdk-nag writes it.

    Computed from the construct path with aws-cdk-lib's algorithm (makeUniqueId), which CDK keeps
    stable because changing it would replace resources; tests/unit/test_nag.py checks it against
    Stack.get_logical_id.
    """
    stack_relative = construct.node.path.split("/")[1:]
    return make_unique_id([*stack_relative, "Resource"])


def make_unique_id(components: list[str]) -> str:
    components = [c for c in components if c != "Default"]
    if len(components) == 1:
        candidate = _alphanumeric(components[0])
        if len(candidate) <= 255:
            return candidate
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()[:8].upper()
    deduplicated: list[str] = []
    for component in components:
        if not deduplicated or not deduplicated[-1].endswith(component):
            deduplicated.append(component)
    human = "".join(_alphanumeric(c) for c in deduplicated if c != "Resource")[:240]
    return human + digest


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


def allow(
    role: IConstruct,
    sid: str,
    actions: list[str],
    resources: list[str],
    reason: str,
    conditions: dict[str, object] | None = None,
) -> None:
    """Add one statement to `role` and acknowledge its wildcards with the reason it is written so."""
    from aws_cdk import aws_iam as iam

    if not isinstance(role, iam.Role):
        raise TypeError(f"{role.node.path} is not an iam.Role")
    role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions))
    acknowledge_statement(role, actions, resources, reason)
