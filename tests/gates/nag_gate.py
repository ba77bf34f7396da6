"""Run the cdk-nag packs over a construct tree and list unacknowledged findings."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def nag_findings(app: cdk.App) -> list[str]:
    """Every finding the AwsSolutions and Serverless packs report, as 'rule | construct path'."""
    findings: list[str] = []
    for pack in (AwsSolutionsChecks(app), ServerlessChecks(app)):
        report = pack.validate_scope(app)
        for violation in report.violations:
            for resource in violation.violating_resources:
                findings.append(f"{violation.rule_name} | {resource.construct_path} | {violation.description[:100]}")
    return sorted(set(findings))


def acknowledgements(root: IConstruct) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgement recorded below `root`."""
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: list[tuple[str, str, str]] = []
    for node in root.node.find_all():
        for entry in node.node.metadata:
            if entry.type == key:
                # Recorded as {"Annotation::<rule id>": reason}.
                for rule, reason in dict(entry.data).items():
                    found.append((node.node.path, str(rule).split("::", 1)[-1], str(reason)))
    return found
