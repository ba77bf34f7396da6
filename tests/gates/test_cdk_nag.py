"""cdk-nag v3 gate: AwsSolutions and Serverless packs, zero unacknowledged findings."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

from tests.gates.nag_gate import acknowledgements, nag_findings
from tests.platform_synth import new_app


def test_default_platform_has_no_unacknowledged_findings(default_platform) -> None:  # type: ignore[no-untyped-def]
    findings = nag_findings(default_platform.app)
    assert findings == [], "unacknowledged cdk-nag findings:\n" + "\n".join(findings)


def test_gate_reports_an_unacknowledged_finding(tmp_path: Path) -> None:
    """The gate above can fail: a plain bucket is reported (no SSL enforcement, no access logs)."""
    app = new_app(tmp_path)
    stack = cdk.Stack(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    s3.Bucket(stack, "Plain")
    findings = nag_findings(app)
    assert any(f.startswith("AwsSolutions-S10 | Probe/Plain") for f in findings), findings
    assert any(f.startswith("AwsSolutions-S1 | Probe/Plain") for f in findings), findings


def test_every_acknowledgement_has_a_reason(default_platform) -> None:  # type: ignore[no-untyped-def]
    # Only cdk-nag acknowledgements: aws-cdk-lib records a few of its own (e.g. cfn-lint ids).
    acks = [a for a in acknowledgements(default_platform.app) if a[1].startswith(("AwsSolutions-", "Serverless-"))]
    assert len(acks) > 20, "expected the platform to acknowledge some findings"
    for path, rule, reason in acks:
        assert len(reason.split()) >= 6, f"{path}: {rule} acknowledged without a real reason: {reason!r}"
