"""Synthesize a platform the way `cdk synth` does, once, and hand out its templates.

Tests share one synth per config (see conftest.py): each `Template.from_stack` would be a
new synth, so templates are read from the cloud assembly instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import assertions, cx_api

from app import platform_app
from config.model import PlatformConfig
from stacks.platform import PlatformStacks, build_platform

REPO_ROOT = Path(__file__).resolve().parent.parent


@cache
def cdk_json_context() -> dict[str, Any]:
    """The feature flags and context defaults of cdk.json, which a bare App() would not read."""
    return dict(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])


def new_app(outdir: Path) -> cdk.App:
    context = {
        **cdk_json_context(),
        "aws:cdk:bundling-stacks": [],  # never bundle (no Docker) in tests
        "aws:cdk:version-reporting": False,  # keep CDK metadata out of snapshots
    }
    # With app.py's synth settings: cfn-lint (tests/gates) validates the templates instead of the
    # built-in pass, and no stack trace is recorded per construct.
    return platform_app(context=context, outdir=str(outdir))


@dataclass
class SynthesizedPlatform:
    config: PlatformConfig
    app: cdk.App
    stacks: PlatformStacks
    assembly: cx_api.CloudAssembly
    outdir: Path
    _templates: dict[str, assertions.Template] = field(default_factory=dict)

    # Stack names and templates come from the assembly's manifest.json and the files it names, not
    # from artifact objects: jsii keeps one Python proxy per JavaScript object, typed by the first
    # call that returned it, so once a test has read a stack through a CloudArtifact-typed API
    # (`artifact.dependencies`), `assembly.stacks` and `get_stack_by_name` hand out that
    # CloudArtifact proxy, which has no stack_name or template. The manifest is read once: the
    # assembly is complete before this object exists.
    @cached_property
    def _stack_artifacts(self) -> dict[str, dict[str, Any]]:
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        return {
            artifact.get("properties", {}).get("stackName", artifact_id): artifact
            for artifact_id, artifact in manifest["artifacts"].items()
            if artifact["type"] == "aws:cloudformation:stack"
        }

    @property
    def stack_names(self) -> list[str]:
        return list(self._stack_artifacts)

    def template_json(self, stack_name: str) -> dict[str, Any]:
        template_file = self._stack_artifacts[stack_name]["properties"]["templateFile"]
        return dict(json.loads((self.outdir / template_file).read_text()))

    def template(self, stack_name: str) -> assertions.Template:
        if stack_name not in self._templates:
            self._templates[stack_name] = assertions.Template.from_json(self.template_json(stack_name))
        return self._templates[stack_name]

    def resource_types(self) -> set[str]:
        """Every resource type the assembly's templates hold."""
        return {
            resource["Type"]
            for name in self.stack_names
            for resource in self.template_json(name).get("Resources", {}).values()
        }

    def template_files(self) -> Iterator[Path]:
        yield from sorted(self.outdir.glob("*.template.json"))


def synth_platform(config: PlatformConfig, outdir: Path) -> SynthesizedPlatform:
    app = new_app(outdir)
    stacks = build_platform(app, config)
    assembly = app.synth()
    return SynthesizedPlatform(config=config, app=app, stacks=stacks, assembly=assembly, outdir=outdir)


# ----- snapshot normalization -----

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_VERSION_LOGICAL_ID = re.compile(r"(CurrentVersion)[0-9A-F]{8}[0-9a-f]{32}")


def normalize_template(template: dict[str, Any]) -> dict[str, Any]:
    """Replace asset hashes and hash-bearing logical ids, so code changes do not churn snapshots."""
    text = json.dumps(template, sort_keys=True)
    text = _ASSET_HASH.sub("<asset-hash>", text)
    text = _VERSION_LOGICAL_ID.sub(r"\1<hash>", text)
    return dict(json.loads(text))


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == resource_type}
