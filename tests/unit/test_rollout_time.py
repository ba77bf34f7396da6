"""The rollout-time model (tools/rollout_time.py): its graph is the platform's, and docs/performance.md holds
its current output."""

from __future__ import annotations

import pytest

from tests.platform_synth import SynthesizedPlatform
from tools import rollout_time


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_the_model_plans_the_graph_the_synthesized_platform_has(which: str, request: pytest.FixtureRequest) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    modelled = {n.name: (n.wave, n.dependencies) for n, _ in rollout_time.rollout_nodes(platform.config)}
    real = {n.name: (n.wave, n.dependencies) for n in platform.stacks.rollout_nodes()}
    assert modelled == real


def test_every_stack_kind_has_a_duration_and_a_basis(default_platform: SynthesizedPlatform) -> None:
    kinds = {k for _, k in rollout_time.rollout_nodes(default_platform.config)}
    assert kinds <= set(rollout_time.KINDS)
    assert all(k.basis and k.create >= k.update > rollout_time.UNCHANGED for k in rollout_time.KINDS.values())


def test_the_pipeline_beats_a_sequential_deploy_at_scale_and_the_doc_is_current() -> None:
    configs = rollout_time.default_configs()
    large = rollout_time.estimate(configs[1][1], "create")
    assert large.stacks == 608 and large.pipeline_minutes * 5 < large.sequential_minutes
    assert rollout_time.estimate(configs[1][1], "one-service").pipeline_minutes < large.pipeline_minutes
    section = rollout_time.markdown(configs)
    assert section in rollout_time.DOC.read_text(encoding="utf-8"), "run python -m tools.rollout_time"
