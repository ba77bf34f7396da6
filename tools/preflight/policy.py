"""IAM policy evaluation: what AWS decides for one request against a set of policy documents.

Implements the parts of AWS's evaluation logic the platform's policies use: an explicit Deny
wins over any Allow, no Allow means an implicit deny; Action/NotAction, Resource/NotResource
and Principal/NotPrincipal with `*` and `?` wildcards (actions case-insensitively, resources
case-sensitively); condition operators (String*, Arn*, Bool, Null, Numeric*, with IfExists
and ForAnyValue/ForAllValues). A condition key that the request does not carry counts as
absent, exactly as AWS treats it; the keys that decided a statement that way are returned so
a caller can say where the simulation had to assume a key is absent.

Reference: "Policy evaluation logic" and "IAM JSON policy elements: Condition operators" in the
IAM User Guide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class Request:
    """One API call: who calls (for resource policies), what, on which ARN, with which context keys."""

    action: str
    resource: str
    principal: str = ""  # for resource policies: a service principal or an IAM ARN
    principal_account: str = ""
    context: Mapping[str, str | list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    statements: tuple[str, ...] = ()  # Sids (or indexes) of the statements that decided it
    assumed_absent: tuple[str, ...] = ()  # condition keys the request did not carry, read as absent

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character."""
    return bool(_wildcard(pattern, ignore_case).match(value))


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(matches(p, action, ignore_case=True) for p in patterns)


def resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(matches(p, resource) for p in patterns)


def _principal_matches(element: Any, request: Request) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    for kind, values in element.items():
        for value in as_list(values):
            if value == "*":
                return True
            if kind == "Service" and value == request.principal:
                return True
            if kind == "AWS":
                text = str(value)
                if re.fullmatch(r"\d{12}", text) or text.endswith(":root"):
                    account = text if text.isdigit() else text.split(":")[4]
                    if account and account == request.principal_account:
                        return True
                elif matches(text, request.principal):
                    return True
    return False


# ----- conditions -----

_STRING = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: matches(p, v),
    "ArnEquals": lambda p, v: matches(p, v),
    "ArnLike": lambda p, v: matches(p, v),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_NUMERIC = {
    "NumericEquals": lambda p, v: v == p,
    "NumericNotEquals": lambda p, v: v != p,
    "NumericLessThan": lambda p, v: v < p,
    "NumericLessThanEquals": lambda p, v: v <= p,
    "NumericGreaterThan": lambda p, v: v > p,
    "NumericGreaterThanEquals": lambda p, v: v >= p,
}


class UnsupportedConditionError(ValueError):
    """A condition operator this evaluator does not implement: the caller must report it, not pass it."""


def _find_key(context: Mapping[str, Any], key: str) -> Any:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _operator_holds(operator: str, expected: list[Any], actual: list[str]) -> bool:
    """One operator on one key, `actual` being the request's values (non-empty)."""
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if operator == "Bool":
        test = lambda p, v: str(p).lower() == str(v).lower()  # noqa: E731
    elif operator in _STRING:
        base = _STRING[operator]
        test = lambda p, v: base(str(p), str(v))  # noqa: E731
    elif operator in _NEGATED:
        positive = _STRING[_NEGATED[operator]]
        # A negated operator holds when no expected value matches.
        if qualifier == "ForAllValues":
            return all(not any(positive(str(p), v) for p in expected) for v in actual)
        return not any(positive(str(p), v) for p in expected for v in actual)
    elif operator in _NUMERIC:
        compare = _NUMERIC[operator]
        test = lambda p, v: compare(float(p), float(v))  # noqa: E731
    else:
        raise UnsupportedConditionError(operator)
    if qualifier == "ForAllValues":
        return all(any(test(p, v) for p in expected) for v in actual)
    return any(test(p, v) for p in expected for v in actual)


def _conditions_hold(block: Mapping[str, Any], context: Mapping[str, Any], absent: list[str]) -> bool:
    for raw_operator, keys in block.items():
        if_exists = raw_operator.endswith("IfExists")
        operator = raw_operator.removesuffix("IfExists")
        for key, expected_values in keys.items():
            expected = as_list(expected_values)
            actual = _find_key(context, key)
            if operator == "Null":
                is_null = actual is None
                if not any(str(e).lower() == str(is_null).lower() for e in expected):
                    return False
                if is_null:
                    absent.append(key)
                continue
            if actual is None:
                absent.append(key)
                negated = operator.split(":")[-1] in _NEGATED
                for_all = operator.startswith("ForAllValues:")
                # AWS: a missing key fails the condition, except with ...IfExists, a negated
                # operator, or ForAllValues (vacuously true on an empty set).
                if if_exists or negated or for_all:
                    continue
                return False
            if not _operator_holds(operator, expected, [str(v) for v in as_list(actual)]):
                return False
    return True


def _statement_targets(statement: Mapping[str, Any], request: Request, resource_policy: bool) -> bool:
    """Action, Resource and Principal match the request (conditions aside)."""
    if "Action" in statement and not action_matches(as_list(statement["Action"]), request.action):
        return False
    if "NotAction" in statement and action_matches(as_list(statement["NotAction"]), request.action):
        return False
    if "Resource" in statement and not resource_matches(as_list(statement["Resource"]), request.resource):
        return False
    if "NotResource" in statement and resource_matches(as_list(statement["NotResource"]), request.resource):
        return False
    if not resource_policy:
        # An identity policy statement without Resource or NotResource is invalid.
        return "Resource" in statement or "NotResource" in statement
    if "Principal" in statement:
        return _principal_matches(statement["Principal"], request)
    if "NotPrincipal" in statement:
        return not _principal_matches(statement["NotPrincipal"], request)
    return False


def evaluate(documents: Iterable[Mapping[str, Any]], request: Request, *, resource_policy: bool = False) -> Outcome:
    """The decision of `documents` (all identity policies, or one resource policy) on `request`."""
    allows: list[str] = []
    denies: list[str] = []
    absent: list[str] = []
    for document in documents:
        for index, statement in enumerate(as_list(document.get("Statement"))):
            if not _statement_targets(statement, request, resource_policy):
                continue
            keys: list[str] = []
            holds = _conditions_hold(statement.get("Condition", {}), request.context, keys)
            absent.extend(keys)  # an absent key can decide a statement either way: the caller reports it
            if not holds:
                continue
            label = str(statement.get("Sid") or f"#{index}")
            (denies if statement.get("Effect") == "Deny" else allows).append(label)
    if denies:
        return Outcome(Decision.EXPLICIT_DENY, tuple(denies), tuple(dict.fromkeys(absent)))
    if allows:
        return Outcome(Decision.ALLOW, tuple(allows), tuple(dict.fromkeys(absent)))
    return Outcome(Decision.IMPLICIT_DENY, (), tuple(dict.fromkeys(absent)))


def document_size(document: Mapping[str, Any]) -> int:
    """Characters IAM counts against a policy's size quota: the JSON without whitespace."""
    import json

    return len(json.dumps(document, separators=(",", ":")))
