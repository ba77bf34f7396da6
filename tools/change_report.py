"""A human-readable change report from CloudFormation change sets (issue 20: review before production).

    python -m tools.change_report --stack NAME --change-set NAME [--profile P] [--region R] [-o report.md]
    python -m tools.change_report --from-json describe-change-set.json ... [-o report.md]

Reads DescribeChangeSet (every page: Changes come 1,000 at most per call, NextToken for the rest) or
saved DescribeChangeSet answers, and writes per stack: resources added, changed, replaced and
removed; IAM and other security-relevant changes called out; and, highlighted, every replacement or
deletion of a stateful or retained resource (what CloudFormation will do with it: its PolicyAction,
Retain or Delete, when the change set gives it). The shapes are botocore's `DescribeChangeSet`
output; the tests feed it through botocore's Stubber, which validates them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Resource types whose replacement or deletion loses data or an identity others depend on.
STATEFUL_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::SecretsManager::Secret",
        "AWS::CodeCommit::Repository",
        "AWS::ECR::Repository",
        "AWS::CodeArtifact::Domain",
        "AWS::CodeArtifact::Repository",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::EC2::VPC",
        "AWS::EC2::EIP",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::RDS::DBInstance",
        "AWS::RDS::DBCluster",
    }
)
# Types and properties whose change alters who may do what (the `cdk diff` security section's scope).
SECURITY_TYPES = frozenset(
    {
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::User",
        "AWS::IAM::Group",
        "AWS::KMS::Key",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::Lambda::Permission",
        "AWS::Events::EventBusPolicy",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::Logs::ResourcePolicy",
        "AWS::CodeArtifact::RepositoryPolicy",
    }
)
SECURITY_PROPERTIES = frozenset(
    {
        "AssumeRolePolicyDocument",
        "PolicyDocument",
        "Policies",
        "ManagedPolicyArns",
        "PermissionsBoundary",
        "KeyPolicy",
        "SecurityGroupIngress",
        "SecurityGroupEgress",
        "RoleArn",
        "Role",
        "ServiceRole",
        "ExecutionRoleArn",
        "TaskRoleArn",
        "PermissionsPolicyDocument",
        "RepositoryPolicyText",
        "PublicAccessBlockConfiguration",
        "BucketEncryption",
    }
)
RETAINING = frozenset({"Retain", "ReplaceAndRetain", "Snapshot", "ReplaceAndSnapshot"})


class ReportError(Exception):
    """A change set the report cannot read; printed as one line, exit code 2."""


@dataclass
class Change:
    logical_id: str
    resource_type: str
    action: str  # Add, Modify, Remove, Import, Dynamic, SyncWithActual
    replacement: str | None  # True, False, Conditional (Modify only)
    policy_action: str | None
    properties: list[str] = field(default_factory=list)

    @property
    def replaced(self) -> bool:
        return self.action == "Modify" and self.replacement in ("True", "Conditional")

    @property
    def security(self) -> bool:
        return self.resource_type in SECURITY_TYPES or bool(SECURITY_PROPERTIES & set(self.properties))

    @property
    def stateful_loss(self) -> bool:
        return self.resource_type in STATEFUL_TYPES and (self.action == "Remove" or self.replaced)


@dataclass
class StackChanges:
    stack: str
    change_set: str
    status: str
    reason: str
    changes: list[Change]

    def of(self, what: str) -> list[Change]:
        if what == "replaced":
            return [c for c in self.changes if c.replaced]
        if what == "changed":
            return [c for c in self.changes if c.action == "Modify" and not c.replaced]
        if what == "added":
            return [c for c in self.changes if c.action in ("Add", "Import")]
        if what == "removed":
            return [c for c in self.changes if c.action == "Remove"]
        return [c for c in self.changes if c.action in ("Dynamic", "SyncWithActual")]


def _change(item: Mapping[str, Any]) -> Change:
    resource = item.get("ResourceChange") or {}
    if item.get("Type") != "Resource" or not resource:
        raise ReportError(f"a change of type {item.get('Type')!r} without a ResourceChange; allowed: Resource")
    details = resource.get("Details") or []
    names = [d.get("Target", {}).get("Name") for d in details if d.get("Target", {}).get("Attribute") == "Properties"]
    return Change(
        logical_id=str(resource.get("LogicalResourceId", "?")),
        resource_type=str(resource.get("ResourceType", "?")),
        action=str(resource.get("Action", "?")),
        replacement=resource.get("Replacement"),
        policy_action=resource.get("PolicyAction"),
        properties=sorted({n for n in names if n}),
    )


def from_pages(pages: Iterable[Mapping[str, Any]]) -> StackChanges:
    """One stack's change set from its DescribeChangeSet answers (one or more pages)."""
    pages = list(pages)
    if not pages:
        raise ReportError("no DescribeChangeSet answer")
    first = pages[0]
    changes = [_change(item) for page in pages for item in page.get("Changes", [])]
    return StackChanges(
        stack=str(first.get("StackName", "?")),
        change_set=str(first.get("ChangeSetName", "?")),
        status=str(first.get("Status", "?")),
        reason=str(first.get("StatusReason") or ""),
        changes=changes,
    )


def describe(cloudformation: Any, stack: str, change_set: str) -> StackChanges:
    """Every page of DescribeChangeSet for one change set."""
    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"StackName": stack, "ChangeSetName": change_set}
        if token:
            kwargs["NextToken"] = token
        page = cloudformation.describe_change_set(**kwargs)
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return from_pages(pages)


# DeletionPolicy / UpdateReplacePolicy values that keep the resource (RetainExceptOnCreate keeps it
# on every delete but the rollback of its own creation).
_KEEPS = {"Retain": "Retain", "RetainExceptOnCreate": "Retain", "Snapshot": "Snapshot"}


def _top_level(pointers: Iterable[str]) -> frozenset[str]:
    """Top-level property names of a resource schema's JSON pointers (/properties/Name/...)."""
    return frozenset(p.split("/")[2] for p in pointers if p.startswith("/properties/") and len(p.split("/")) > 2)


def create_only_properties(region: str) -> Callable[[str], frozenset[str]]:
    """The properties whose change replaces a resource of a type: the CloudFormation registry's provider
    schemas (`createOnlyProperties`), as cfn-lint ships them; a type without a schema has none known."""
    from tools.preflight.published import resource_schemas

    schemas = resource_schemas()

    def lookup(type_name: str) -> frozenset[str]:
        return _top_level((schemas.schema(region, type_name) or {}).get("createOnlyProperties", []))

    return lookup


def _removal_policy(resource: Mapping[str, Any], key: str, kept: str, deleted: str) -> str:
    policy = resource.get(key, "Delete")
    return kept if isinstance(policy, str) and policy in _KEEPS else deleted


def from_templates(
    stack: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    create_only: Callable[[str], frozenset[str]] = lambda _type: frozenset(),
    reason: str = "",
) -> StackChanges:
    """One stack's changes from its deployed (or base) template to a new one, without CloudFormation.

    A changed property that the type's schema lists as create-only means a replacement; a property
    given as an intrinsic function in either template may resolve to the same value, so such a
    replacement is reported as Conditional (as a change set would). Removed and replaced resources
    carry what their DeletionPolicy / UpdateReplacePolicy does with the old one. `old` None: a new
    stack; `new` None: a stack that is removed.
    """
    before = dict((old or {}).get("Resources") or {})
    after = dict((new or {}).get("Resources") or {})
    changes: list[Change] = []
    for logical_id in sorted(set(before) | set(after)):
        was, now = before.get(logical_id), after.get(logical_id)
        if was is None and now is not None:
            changes.append(Change(logical_id, str(now.get("Type")), "Add", None, None))
            continue
        if now is None and was is not None:
            policy = _removal_policy(was, "DeletionPolicy", "Retain", "Delete")
            changes.append(Change(logical_id, str(was.get("Type")), "Remove", None, policy))
            continue
        assert was is not None and now is not None
        type_name = str(now.get("Type"))
        replace_policy = _removal_policy(now, "UpdateReplacePolicy", "ReplaceAndRetain", "ReplaceAndDelete")
        if was.get("Type") != now.get("Type"):
            changes.append(Change(logical_id, type_name, "Modify", "True", replace_policy, ["Type"]))
            continue
        old_props, new_props = dict(was.get("Properties") or {}), dict(now.get("Properties") or {})
        changed = sorted(k for k in set(old_props) | set(new_props) if old_props.get(k) != new_props.get(k))
        if not changed:
            continue
        replacing = [k for k in changed if k in create_only(type_name)]
        replacement = "False"
        if replacing:
            dynamic = any(_intrinsic(old_props.get(k)) or _intrinsic(new_props.get(k)) for k in replacing)
            replacement = "Conditional" if dynamic else "True"
        changes.append(
            Change(logical_id, type_name, "Modify", replacement, replace_policy if replacing else None, changed)
        )
    status = "CREATE" if old is None else "DELETE" if new is None else "UPDATE"
    return StackChanges(stack=stack, change_set="(template diff)", status=status, reason=reason, changes=changes)


def _intrinsic(value: Any) -> bool:
    """Whether a template value holds an intrinsic function (its deployed value is not in the template)."""
    if isinstance(value, Mapping):
        return any(k == "Ref" or k.startswith("Fn::") for k in value) or any(_intrinsic(v) for v in value.values())
    if isinstance(value, list):
        return any(_intrinsic(v) for v in value)
    return False


def summary(stacks: Sequence[StackChanges]) -> str:
    """One line for an approval notice: what the report holds, risks first."""
    changed = [s for s in stacks if s.changes]
    counts = {what: sum(len(s.of(what)) for s in stacks) for what in ("added", "changed", "replaced", "removed")}
    risky = sum(c.stateful_loss for s in stacks for c in s.changes)
    security = sum(c.security for s in stacks for c in s.changes)
    unread = [s.stack for s in stacks if s.status == "FAILED" and s.reason and not _no_changes(s.reason)]
    parts = [f"{len(changed)} of {len(stacks)} stacks change"]
    parts.append(", ".join(f"{n} {what}" for what, n in counts.items() if n) or "no resource changes")
    if security:
        parts.append(f"{security} IAM/security")
    if risky:
        parts.append(f"{risky} STATEFUL REPLACED OR REMOVED")
    if unread:
        parts.append(f"{len(unread)} not previewed")
    return "; ".join(parts)


def _no_changes(reason: str) -> bool:
    return "didn't contain changes" in reason or "No updates are to be performed" in reason


def _line(change: Change) -> str:
    text = f"`{change.logical_id}` ({change.resource_type})"
    if change.properties:
        text += ": " + ", ".join(change.properties)
    if change.replacement == "Conditional":
        text += " (replacement conditional)"
    return text


def _fate(change: Change) -> str:
    if change.policy_action in RETAINING:
        return f"CloudFormation keeps the old one ({change.policy_action}); it stays in the account, unmanaged"
    if change.policy_action:
        return f"CloudFormation deletes the old one ({change.policy_action})"
    return "what happens to the old one is not in the change set: check its DeletionPolicy"


def render(stacks: Sequence[StackChanges], title: str = "Change report", intro: str = "") -> str:
    """The report in Markdown: a summary table, then per stack the changes by kind."""
    lines = [
        f"# {title}",
        "",
        *([intro, ""] if intro else []),
        "| stack | added | changed | replaced | removed | security | data at risk |",
    ]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for s in stacks:
        risky = [c for c in s.changes if c.stateful_loss]
        lines.append(
            f"| {s.stack} | {len(s.of('added'))} | {len(s.of('changed'))} | {len(s.of('replaced'))} | "
            f"{len(s.of('removed'))} | {sum(c.security for c in s.changes)} | "
            f"{'**' + str(len(risky)) + '**' if risky else 0} |"
        )
    for s in stacks:
        lines += ["", f"## {s.stack}", ""]
        if s.status == "FAILED" and not s.changes:
            if s.reason and not _no_changes(s.reason):
                lines.append(f"**Not previewed**: the change set failed ({s.reason}).")
            else:
                lines.append(f"No changes ({s.reason or 'the change set failed'}).")
            continue
        if s.status == "DELETE":
            kept = [c for c in s.changes if c.policy_action in RETAINING]
            lines.append("**The stack is deleted.** Every resource goes, except those its template retains.")
            if kept:
                lines.append(f"Retained ({len(kept)}): they stay in the account, no longer managed by any stack:")
                lines += [f"- {_line(c)}" for c in kept]
            lines.append("")
        elif s.status == "CREATE":
            lines.append("A new stack.")
            lines.append("")
        if not s.changes:
            lines.append("No changes.")
            continue
        risky = [c for c in s.changes if c.stateful_loss]
        if risky:
            lines.append("**Stateful or retained resources replaced or removed:**")
            lines += [
                f"- **{'removed' if c.action == 'Remove' else 'replaced'}: {_line(c)}**: {_fate(c)}" for c in risky
            ]
            lines.append("")
        security = [c for c in s.changes if c.security]
        if security:
            lines.append("**IAM and security changes** (review who may do what):")
            lines += [f"- {c.action.lower()}: {_line(c)}" for c in security]
            lines.append("")
        for what in ("added", "changed", "replaced", "removed", "dynamic"):
            found = s.of(what)
            if found:
                lines.append(f"{what.capitalize()} ({len(found)}):")
                lines += [f"- {_line(c)}" for c in found]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, cloudformation: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.change_report", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stack", action="append", default=[], help="stack name (repeatable, with --change-set)")
    parser.add_argument("--change-set", help="change set name, the same for every --stack")
    parser.add_argument("--from-json", action="append", default=[], type=Path, help="a saved DescribeChangeSet answer")
    parser.add_argument("--profile", help="AWS profile (with --stack)")
    parser.add_argument("--region", help="AWS region (with --stack)")
    parser.add_argument("-o", "--output", type=Path, help="write the report here (default: print it)")
    args = parser.parse_args(argv)
    try:
        if bool(args.stack) == bool(args.from_json) or (args.stack and not args.change_set):
            raise ReportError("give --stack ... --change-set NAME, or --from-json FILE ...")
        stacks = []
        for path in args.from_json:
            try:
                stacks.append(from_pages([json.loads(path.read_text())]))
            except (OSError, ValueError) as error:
                raise ReportError(f"{path}: {error}") from None
        if args.stack:
            if cloudformation is None:
                import boto3

                cloudformation = boto3.Session(profile_name=args.profile, region_name=args.region).client(
                    "cloudformation"
                )
            stacks += [describe(cloudformation, stack, args.change_set) for stack in args.stack]
        report = render(stacks)
    except ReportError as error:
        print(f"change_report: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # botocore errors: one line, not a traceback
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        print(f"change_report: {code}: {error}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(report)
    else:
        print(report, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
