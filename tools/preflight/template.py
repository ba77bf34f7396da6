"""A cloud assembly as CloudFormation sees it at deploy time.

Each stack's account, region and execution role come from the assembly's manifest; each
resource gets the physical name CloudFormation would use (its name property, or the name
CloudFormation generates) and its ARN in the format IAM's service authorization reference
publishes; intrinsic functions are resolved to strings. What cannot be known before deploy
(a generated id, a random suffix, an SSM parameter's value) becomes an opaque part, written
«...», which only a wildcard in a policy can match.

Names CloudFormation generates for resources without a name property
(aws-cloudformation/cloudformation-cli-java-plugin, IdentifierUtils.generateResourceIdentifier,
and the resource providers' create handlers):

- most types: <stack name>-<logical id>-<12 random characters>, the two names truncated to fit
  the type's maximum length (each keeps half of what is left; a short one gives its unused share
  to the other);
- AWS::SecretsManager::Secret, AWS::Events::Connection, AWS::Events::ApiDestination and
  AWS::CodeBuild::Project: <logical id>-<12 random characters>, no stack name;
- AWS::Lambda::LayerVersion: the logical id itself (aws/aws-cdk#8742, #18563);
- AWS::S3::Bucket: as most types, lowercased, at most 63 characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tools.preflight.policy import as_list
from tools.preflight.published import IamReference, ResourceSchemas, ResourceType, iam_reference, resource_schemas

GENERATED_SUFFIX = "Gen0rAndom12"  # stands for CloudFormation's 12 random characters
SECRET_SUFFIX = "-Ab1Cd2"  # noqa: S105 - stands for the six random characters Secrets Manager appends


def opaque(what: str) -> str:
    return f"«{what}»"


def is_opaque(value: str) -> bool:
    return "«" in value


# CloudFormation namespaces whose IAM service prefix is not the lowercased namespace.
SERVICE_PREFIXES = {
    "ElasticLoadBalancingV2": "elasticloadbalancing",
    "ApplicationAutoScaling": "application-autoscaling",
    "CertificateManager": "acm",
}
# Resource types whose IAM resource type does not match their name after normalization.
IAM_TYPE_OF = {
    "AWS::DynamoDB::GlobalTable": "table",
    "AWS::IAM::ManagedPolicy": "policy",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "loadbalancer/app/",
    "AWS::ElasticLoadBalancingV2::Listener": "listener/app",
    "AWS::ElasticLoadBalancingV2::ListenerRule": "listener-rule/app",
    "AWS::Events::Rule": "rule-on-default-event-bus",
    "AWS::Lambda::Version": "function version",
    "AWS::Lambda::Alias": "function alias",
    "AWS::EC2::EIP": "elastic-ip",
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration": "ChatbotConfiguration",
}
# Name placeholders of ARN formats that are not spelled like the type's name property.
NAME_PROPERTY_OF_PLACEHOLDER = {
    ("AWS::SecretsManager::Secret", "SecretId"): "Name",
    ("AWS::ECS::TaskDefinition", "TaskDefinitionFamilyName"): "Family",
    ("AWS::KMS::Alias", "Alias"): "AliasName",
    ("AWS::CodeDeploy::DeploymentConfig", "DeploymentConfigurationName"): "DeploymentConfigName",
    ("AWS::SSM::Parameter", "ParameterNameWithoutLeadingSlash"): "Name",
    ("AWS::IAM::ManagedPolicy", "PolicyNameWithPath"): "ManagedPolicyName",
    ("AWS::Chatbot::MicrosoftTeamsChannelConfiguration", "ChatbotConfigurationName"): "ConfigurationName",
}
# Placeholders a resource type fixes: chatbot:...:chat-configuration/<type>/<name> of a Teams channel.
FIXED_PLACEHOLDERS = {
    ("AWS::Chatbot::MicrosoftTeamsChannelConfiguration", "ConfigurationType"): "microsoft-teams-channel",
}
# Types that attach something to another resource and have no ARN of their own.
ATTACHMENTS = {
    "AWS::IAM::Policy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Events::EventBusPolicy",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::Route",
}
LOGICAL_ID_NAMES = {"AWS::SecretsManager::Secret", "AWS::Events::Connection", "AWS::Events::ApiDestination"}
LOGICAL_ID_NAMES |= {"AWS::CodeBuild::Project"}
LOGICAL_ID_ONLY = {"AWS::Lambda::LayerVersion"}
PSEUDO_PLACEHOLDERS = {"Partition", "Region", "Account"}
# Property subtrees that hold policy documents: the principals and resources they name are not
# resources the holding resource uses.
POLICY_DOCUMENT_KEYS = {
    "AssumeRolePolicyDocument",
    "KeyPolicy",
    "PermissionsPolicyDocument",
    "PolicyDocument",
    "Policies",
    "PolicyText",
    "RepositoryPolicyText",
    "ResourcePolicy",
    "Statement",
}


def generated_name(stack_name: str, logical_id: str, max_length: int) -> str:
    """CloudFormation's <stack>-<logical id>-<random>, each part truncated to its fair share."""
    stack = re.sub(r"-+", "-", stack_name.lstrip("-"))
    available = max_length - 13 - (1 if max_length > 17 else 0)
    half = available // 2
    if len(stack) < half:
        stack_part, logical_part = stack, logical_id[: available - len(stack)]
    elif len(logical_id) < half:
        stack_part, logical_part = stack[: available - len(logical_id)], logical_id
    else:
        stack_part, logical_part = stack[: available - half], logical_id[:half]
    return f"{stack_part}-{logical_part}-{GENERATED_SUFFIX}"


@dataclass
class Identity:
    """What a resource is called and how IAM addresses it."""

    logical_id: str
    type: str
    name: str | None
    name_rule: str  # "property <Name>", "generated: <rule>", or "none"
    resource_type: ResourceType | None
    placeholders: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str | None:
        if self.resource_type is None:
            return None
        return self.resource_type.fill(self.placeholders)

    @property
    def generated(self) -> bool:
        return self.name_rule.startswith("generated")


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.key}"


class Resolution:
    """What resolving one property tree found besides its value."""

    def __init__(self) -> None:
        self.referenced: set[str] = set()  # logical ids reached by Ref / GetAtt / Sub


class StackModel:
    def __init__(self, assembly: Assembly, artifact_id: str, artifact: dict[str, Any]) -> None:
        self.assembly = assembly
        self.artifact_id = artifact_id
        properties = artifact.get("properties", {})
        self.name: str = properties.get("stackName", artifact_id)
        _, _, location = artifact["environment"].partition("aws://")
        self.account, self.region = location.split("/")
        self.template: dict[str, Any] = json.loads((assembly.outdir / properties["templateFile"]).read_text())
        self.dependencies: list[str] = [d for d in artifact.get("dependencies", []) if not d.endswith(".assets")]
        role = properties.get("cloudFormationExecutionRoleArn", "")
        self.execution_role_arn = role.replace("${AWS::Partition}", "aws")
        self._identities: dict[str, Identity] = {}

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template.get("Resources", {}))

    @property
    def schemas(self) -> ResourceSchemas:
        return self.assembly.schemas

    @property
    def iam(self) -> IamReference:
        return self.assembly.iam

    # ----- names and ARNs -----

    def identity(self, logical_id: str) -> Identity:
        if logical_id not in self._identities:
            self._identities[logical_id] = self._identify(logical_id)
        return self._identities[logical_id]

    def own_resource_type(self, type_name: str) -> ResourceType | None:
        parts = type_name.split("::")
        if len(parts) != 3 or parts[0] != "AWS" or type_name in ATTACHMENTS:
            return None
        service = SERVICE_PREFIXES.get(parts[1], parts[1].lower())
        types = self.iam.resource_types(service)
        wanted = IAM_TYPE_OF.get(type_name)
        if wanted is not None:
            return types.get(wanted)
        normalized = re.sub(r"[^a-z0-9]", "", parts[2].lower())
        for name, resource_type in types.items():
            if resource_type.arn_service == service and re.sub(r"[^a-z0-9]", "", name.lower()) == normalized:
                return resource_type
        return None

    def _name_property(self, type_name: str, placeholder: str) -> str | None:
        schema = self.schemas.schema(self.region, type_name) or {}
        writable = {
            p for p in schema.get("properties", {}) if f"/properties/{p}" not in schema.get("readOnlyProperties", [])
        }
        explicit = NAME_PROPERTY_OF_PLACEHOLDER.get((type_name, placeholder))
        for candidate in (explicit, placeholder, placeholder.removesuffix("WithPath")):
            if candidate and candidate in writable:
                return candidate
        if placeholder.endswith("Name") and "Name" in writable:
            return "Name"
        return None

    def _identify(self, logical_id: str) -> Identity:
        resource = self.resources[logical_id]
        type_name = resource["Type"]
        properties = resource.get("Properties", {})
        resource_type = self.own_resource_type(type_name)
        placeholders = {"Partition": "aws", "Region": self.region, "Account": self.account}
        if resource_type is None:
            return Identity(logical_id, type_name, None, "none", None, placeholders)
        names = [p for p in resource_type.placeholders if p not in PSEUDO_PLACEHOLDERS]
        name_placeholder, name_property = None, None
        for placeholder in reversed(names):
            name_property = self._name_property(type_name, placeholder)
            if name_property:
                name_placeholder = placeholder
                break
        name: str | None = None
        rule = "none"
        if name_property and name_property in properties:
            name = str(self.resolve(properties[name_property]))
            rule = f"property {name_property}"
        elif name_property:
            name, rule = self._generate(logical_id, type_name, name_property)
        for placeholder in names:
            if placeholder == name_placeholder and name is not None:
                placeholders[placeholder] = self._placeholder_value(type_name, placeholder, name, properties)
            else:
                placeholders[placeholder] = self._other_placeholder(logical_id, placeholder, properties)
        return Identity(logical_id, type_name, name, rule, resource_type, placeholders)

    def _generate(self, logical_id: str, type_name: str, name_property: str) -> tuple[str, str]:
        if type_name in LOGICAL_ID_ONLY:
            return logical_id, "generated: the logical id"
        schema = self.schemas.property_schema(self.region, type_name, name_property)
        max_length = int(schema.get("maxLength", 64))
        if type_name == "AWS::S3::Bucket":
            return generated_name(
                self.name, logical_id, 63
            ).lower(), "generated: <stack>-<logical id>-<random>, lowercased"
        if type_name in LOGICAL_ID_NAMES:
            keep = max(1, min(max_length, 64) - 13)
            return f"{logical_id[:keep]}-{GENERATED_SUFFIX}", "generated: <logical id>-<random>"
        return generated_name(self.name, logical_id, min(max_length, 255)), "generated: <stack>-<logical id>-<random>"

    @staticmethod
    def _placeholder_value(type_name: str, placeholder: str, name: str, properties: dict[str, Any]) -> str:
        if placeholder == "SecretId":
            return name + SECRET_SUFFIX
        if placeholder == "ParameterNameWithoutLeadingSlash":
            return name.lstrip("/")
        if type_name == "AWS::KMS::Alias":
            return name.removeprefix("alias/")
        if placeholder.endswith("WithPath"):
            path = str(properties.get("Path", "/"))
            return path.lstrip("/") + name
        return name

    def _other_placeholder(self, logical_id: str, placeholder: str, properties: dict[str, Any]) -> str:
        """A non-name placeholder: fixed by the type, from the property it names, from a referenced resource,
        or opaque."""
        fixed = FIXED_PLACEHOLDERS.get((self.resources[logical_id]["Type"], placeholder))
        if fixed is not None:
            return fixed
        for candidate in (placeholder, placeholder.removesuffix("Name"), placeholder.removesuffix("Id")):
            if candidate in properties:
                resolution = Resolution()
                value = self.resolve(properties[candidate], resolution)
                for referenced in sorted(resolution.referenced):
                    found = self.identity(referenced).placeholders.get(placeholder)
                    if found:
                        return found
                if isinstance(value, str) and not is_opaque(value):
                    return re.split(r"[:/]", value)[-1] if value.startswith("arn:") else value
        return opaque(f"{logical_id} {placeholder}")

    # ----- intrinsic functions -----

    def ref_value(self, logical_id: str) -> str:
        """What Ref returns: the primary identifier (a name, an ARN, a URL) or an opaque id."""
        ident = self.identity(logical_id)
        primary = self.schemas.primary_identifier(self.region, ident.type)
        if ident.type == "AWS::SecretsManager::Secret" and ident.arn:
            return ident.arn
        if ident.type == "AWS::SQS::Queue" and ident.name:
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{ident.name}"
        if len(primary) == 1:
            key = primary[0]
            if ident.name is not None and (ident.name_rule == f"property {key}" or key.endswith("Name")):
                return ident.name
            if key.endswith("Arn") and ident.arn:
                return ident.arn
        if ident.type == "AWS::Events::Rule" and ident.name:
            return ident.name
        return opaque(f"{logical_id}.Ref")

    def get_att(self, logical_id: str, attribute: str) -> str:
        ident = self.identity(logical_id)
        if attribute == "Arn" or attribute.endswith("Arn"):
            if ident.arn is None:
                return opaque(f"{logical_id}.{attribute}")
            return ident.arn + (":*" if ident.type == "AWS::Logs::LogGroup" else "")
        if attribute == "QueueUrl" and ident.name:
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{ident.name}"
        if (attribute.endswith("Name") or attribute == "Name") and ident.name is not None:
            return ident.name
        return opaque(f"{logical_id}.{attribute}")

    def resolve(self, node: Any, resolution: Resolution | None = None) -> Any:
        """`node` with intrinsic functions evaluated; AWS::NoValue removed."""
        found = resolution if resolution is not None else Resolution()
        if isinstance(node, list):
            values = [self.resolve(item, found) for item in node]
            return [v for v in values if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, argument, found)
        resolved = {k: self.resolve(v, found) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/{opaque('id')}",
            "AWS::NoValue": _NO_VALUE,
            "AWS::NotificationARNs": [],
        }.get(name, opaque(name))

    def _intrinsic(self, key: str, argument: Any, found: Resolution) -> Any:
        if key == "Ref":
            if argument.startswith("AWS::"):
                return self._pseudo(argument)
            parameters = self.template.get("Parameters", {})
            if argument in parameters:
                parameter = parameters[argument]
                if str(parameter.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                    return opaque(f"value of SSM parameter {parameter.get('Default')}")
                return parameter.get("Default", opaque(argument))
            found.referenced.add(argument)
            return self.ref_value(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            found.referenced.add(logical_id)
            return self.get_att(logical_id, attribute)
        if key == "Fn::Join":
            separator, items = argument
            values = self.resolve(items, found)
            return separator.join(str(v) for v in values) if isinstance(values, list) else opaque("Fn::Join")
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            resolved_vars = {k: self.resolve(v, found) for k, v in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name in resolved_vars:
                    return str(resolved_vars[name])
                if name.startswith("AWS::"):
                    return str(self._pseudo(name))
                if "." in name:
                    logical_id, attribute = name.split(".", 1)
                    found.referenced.add(logical_id)
                    return self.get_att(logical_id, attribute)
                return str(self._intrinsic("Ref", name, found))

            return re.sub(r"\$\{([^}]+)\}", substitute, text)
        if key == "Fn::Select":
            index, items = argument
            values = self.resolve(items, found)
            position = int(self.resolve(index, found))
            return values[position] if isinstance(values, list) and position < len(values) else opaque("Fn::Select")
        if key == "Fn::Split":
            separator, text = argument
            value = self.resolve(text, found)
            return str(value).split(separator)
        if key == "Fn::GetAZs":
            region = self.resolve(argument, found) or self.region
            return [f"{region}{zone}" for zone in "abc"]
        if key == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false, found)
        if key == "Fn::Base64":
            return self.resolve(argument, found)
        if key == "Fn::FindInMap":
            name, first, second = (self.resolve(a, found) for a in argument)
            return self.template.get("Mappings", {}).get(name, {}).get(first, {}).get(second, opaque(key))
        if key in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"):
            return self._condition_function(key, argument)
        return opaque(key)  # Fn::ImportValue, Fn::Cidr, Fn::Transform, ...

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {}).get(name, False)))

    def _condition_function(self, key: str, argument: Any) -> bool:
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return bool(left == right)
        values = [
            self.condition(a["Condition"]) if isinstance(a, dict) and "Condition" in a else self.resolve(a)
            for a in argument
        ]
        if key == "Fn::And":
            return all(values)
        if key == "Fn::Or":
            return any(values)
        return not values[0]

    def depends(self, logical_id: str, other: str, resolution: Resolution | None = None) -> bool:
        """Whether CloudFormation creates `other` before `logical_id` (a Ref, GetAtt or DependsOn, transitively)."""
        pending = [logical_id]
        seen: set[str] = set()
        while pending:
            current = pending.pop()
            if current in seen or current not in self.resources:
                continue
            seen.add(current)
            found = Resolution()
            self.resolve(self.resources[current].get("Properties", {}), found)
            edges = set(found.referenced) | set(as_list(self.resources[current].get("DependsOn")))
            if current == logical_id and resolution is not None:
                edges |= resolution.referenced
            if other in edges:
                return True
            pending.extend(edges)
        return False

    # ----- what a resource's properties point at -----

    def uses(self, logical_id: str) -> Usage:
        """The resources, ARNs and S3 objects the resource's properties name (policy documents aside)."""
        resource = self.resources[logical_id]
        properties = {k: v for k, v in resource.get("Properties", {}).items() if k not in POLICY_DOCUMENT_KEYS}
        if "UpdatePolicy" in resource:  # e.g. CodeDeployLambdaAliasUpdate names the deployment group
            properties["UpdatePolicy"] = resource["UpdatePolicy"]
        resolution = Resolution()
        resolved = self.resolve(_without_policy_documents(properties), resolution)
        usage = Usage(referenced=sorted(resolution.referenced - {logical_id}))
        for path, value in walk(resolved):
            if isinstance(value, str):
                usage.strings.append((path, value))
                if value.startswith("arn:") and not is_opaque(value.split(":")[2]):
                    usage.arns.append(value.removesuffix(":*"))
            if isinstance(value, dict):
                bucket = value.get("S3Bucket", value.get("Bucket"))
                key = value.get("S3Key", value.get("Key"))
                if isinstance(bucket, str) and isinstance(key, str) and not isinstance(value.get("Value"), str):
                    usage.s3_objects.append(S3Object(bucket, key))
        return usage


@dataclass
class Usage:
    referenced: list[str]
    arns: list[str] = field(default_factory=list)
    s3_objects: list[S3Object] = field(default_factory=list)
    strings: list[tuple[str, str]] = field(default_factory=list)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()


def _without_policy_documents(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_policy_documents(v) for k, v in node.items() if k not in POLICY_DOCUMENT_KEYS}
    if isinstance(node, list):
        return [_without_policy_documents(v) for v in node]
    return node


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every node of a resolved property tree with its path (Code.S3Bucket, Tags[0].Key)."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


class Assembly:
    """Every stack of a synthesized cloud assembly (a cdk.out directory)."""

    def __init__(
        self, outdir: Path, *, schemas: ResourceSchemas | None = None, iam: IamReference | None = None
    ) -> None:
        self.outdir = Path(outdir)
        self.schemas = schemas or resource_schemas()
        self.iam = iam or iam_reference()
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        self.stacks: dict[str, StackModel] = {}
        for artifact_id, artifact in manifest["artifacts"].items():
            if artifact["type"] == "aws:cloudformation:stack":
                stack = StackModel(self, artifact_id, artifact)
                self.stacks[stack.name] = stack

    @cached_property
    def by_artifact_id(self) -> dict[str, StackModel]:
        return {s.artifact_id: s for s in self.stacks.values()}

    def depends_on(self, stack: StackModel, other: StackModel) -> bool:
        """Whether `stack` is deployed after `other` (directly or through its dependencies)."""
        seen: set[str] = set()
        pending = list(stack.dependencies)
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            if current == other.artifact_id:
                return True
            dependency = self.by_artifact_id.get(current)
            if dependency is not None:
                pending.extend(dependency.dependencies)
        return False

    @cached_property
    def _by_name(self) -> dict[tuple[str, str, str], list[tuple[StackModel, str]]]:
        """(account, type, physical name) -> the resources so named, over every stack (built once)."""
        index: dict[tuple[str, str, str], list[tuple[StackModel, str]]] = {}
        for stack in self.stacks.values():
            for logical_id, resource in stack.resources.items():
                name = stack.identity(logical_id).name
                if name is not None:
                    index.setdefault((stack.account, resource["Type"], name), []).append((stack, logical_id))
        return index

    def resources_named(self, type_name: str, name: str, account: str) -> list[tuple[StackModel, str]]:
        """Resources of `type_name` called `name` in `account`, in any stack."""
        return list(self._by_name.get((account, type_name, name), []))
