"""Snapshot of every stack's template, asset hashes normalized.

A snapshot is a regression alarm, not a spec: update it on purpose with
`pytest tests/snapshot --snapshot-update` and say why in the commit.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.platform_synth import normalize_template


@pytest.fixture()
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_every_stack_matches_its_snapshot(default_platform, snapshot_json: SnapshotAssertion) -> None:  # type: ignore[no-untyped-def]
    for stack_name in sorted(default_platform.stack_names):
        template = normalize_template(default_platform.template_json(stack_name))
        assert template == snapshot_json(name=stack_name), f"{stack_name} changed"


def test_normalization_hides_asset_hashes_only() -> None:
    template = {
        "Resources": {
            "FnCurrentVersion1234ABCD0123456789abcdef0123456789abcdef": {"Type": "AWS::Lambda::Version"},
            "Fn": {"Properties": {"Code": {"S3Key": "a" * 64 + ".zip"}, "Handler": "index.handler"}},
        }
    }
    normalized = normalize_template(template)
    assert set(normalized["Resources"]) == {"FnCurrentVersion<hash>", "Fn"}
    assert normalized["Resources"]["Fn"]["Properties"] == {
        "Code": {"S3Key": "<asset-hash>.zip"},
        "Handler": "index.handler",
    }
