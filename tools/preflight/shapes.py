"""Check a value against a shape of botocore's service model: what the AWS API would refuse.

botocore's own ParamValidator checks types, required members and minimums only; this walks the same
model and also checks maximums, patterns and enums, which is where stage conditions go wrong (one
condition per BeforeEntry, at most 5 rules, rule names). A CloudFormation intrinsic (a dict with one
``Ref`` or ``Fn::`` key) cannot be judged before deploy: it is listed, never passed silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape


@dataclass
class ShapeReport:
    problems: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)  # paths holding CloudFormation intrinsics


def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::"))


def _bounds(shape: Shape, size: int, path: str, what: str, report: ShapeReport) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        report.problems.append(f"{path}: {size} {what}; allowed: at least {low} ({shape.name})")
    if high is not None and size > high:
        report.problems.append(f"{path}: {size} {what}; allowed: at most {high} ({shape.name})")


def check(shape: Shape, value: Any, path: str = "", report: ShapeReport | None = None) -> ShapeReport:
    """Every way ``value`` breaks ``shape`` (the model's min, max, pattern, enum, required, members)."""
    report = report if report is not None else ShapeReport()
    if is_intrinsic(value):
        report.unjudged.append(path)
        return report
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            report.problems.append(f"{path}: {type(value).__name__}; allowed: a structure ({shape.name})")
            return report
        for name in shape.required_members:
            if name not in value:
                report.problems.append(f"{path}.{name}: missing; required by {shape.name}")
        for name, member in value.items():
            if name not in shape.members:
                report.problems.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                check(shape.members[name], member, f"{path}.{name}", report)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            report.problems.append(f"{path}: {type(value).__name__}; allowed: a list ({shape.name})")
            return report
        _bounds(shape, len(value), path, "items", report)
        for index, item in enumerate(value):
            check(shape.member, item, f"{path}[{index}]", report)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            report.problems.append(f"{path}: {type(value).__name__}; allowed: a map ({shape.name})")
            return report
        _bounds(shape, len(value), path, "entries", report)
        for key, item in value.items():
            check(shape.key, key, f"{path} key {key!r}", report)
            check(shape.value, item, f"{path}.{key}", report)
    elif shape.type_name == "string":
        text = value if isinstance(value, str) else str(value)
        _bounds(shape, len(text), path, "characters", report)
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, text):
            report.problems.append(f"{path}: {text!r} does not match {pattern} ({shape.name})")
        if shape.enum and text not in shape.enum:
            report.problems.append(f"{path}: {text!r}; allowed: {', '.join(shape.enum)} ({shape.name})")
    elif shape.type_name in ("integer", "long"):
        number = int(value)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            report.problems.append(f"{path}: {number}; allowed: {low}..{high} ({shape.name})")
    return report


# CloudFormation's AWS::CodePipeline::Pipeline property names are the API's, capitalized; these are not.
_CFN_TO_API = {"RuleTypeId": "ruleTypeId", "ActionTypeId": "actionTypeId", "RoleArn": "roleArn"}
# Maps whose keys are data, not member names.
_DATA_MAPS = ("Configuration",)


def cfn_to_api(value: Any, key: str = "") -> Any:
    """A CloudFormation pipeline property in the CodePipeline API's member names (camelCase)."""
    if is_intrinsic(value) or key in _DATA_MAPS:
        return value
    if isinstance(value, dict):
        return {_CFN_TO_API.get(k, k[:1].lower() + k[1:]): cfn_to_api(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [cfn_to_api(v, key) for v in value]
    return value


def pipeline_stage_report(stages: list[dict[str, Any]]) -> ShapeReport:
    """The Stages of an AWS::CodePipeline::Pipeline, checked as CodePipeline's StageDeclaration list."""
    model = service_model("codepipeline")
    shape = model.shape_for("StageDeclaration")
    report = ShapeReport()
    for index, stage in enumerate(stages):
        api = cfn_to_api(stage)
        check(shape, api, f"Stages[{index}]({stage.get('Name')})", report)
    return report
