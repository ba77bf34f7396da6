"""The platform's rollout waves (issue 20): every stack of the cloud assembly once, after what it depends on,
checked against the assembly's own dependency graph (manifest.json), for 3, 9 and many services."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_constructs.platform_waves import MAX_ACTIONS_PER_STAGE, StackNode, check, plan, wave_order
from tests.platform_synth import SynthesizedPlatform


def manifest_dependencies(platform: SynthesizedPlatform) -> dict[str, set[str]]:
    """stack name -> the stacks it depends on, as the assembly records them (asset artifacts left out)."""
    manifest: dict[str, Any] = json.loads((platform.outdir / "manifest.json").read_text())
    stacks = {
        artifact_id: artifact["properties"].get("stackName", artifact_id)
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    return {
        name: {stacks[d] for d in manifest["artifacts"][artifact_id].get("dependencies", []) if d in stacks}
        for artifact_id, name in stacks.items()
    }


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_the_waves_cover_the_assembly_in_dependency_order(which: str, request: pytest.FixtureRequest) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    nodes = platform.stacks.rollout_nodes()
    dependencies = manifest_dependencies(platform)
    # The platform pipeline's own stack is not in a wave: deployed by hand once, then by its SelfUpdate stage.
    assert dependencies.pop(f"{platform.config.name}-platform-pipeline") == set()
    assert {n.name: set(n.dependencies) for n in nodes} == dependencies  # the graph the plan sees is the assembly's
    environments = [e.name for e in platform.config.environments]
    stages = plan(nodes, wave_order(environments), concurrency=4)
    check(stages, dependencies)
    order = [s.wave for s in stages]
    assert order == sorted(order, key=wave_order(environments).index)
    assert order[0] == "cross-account" and order[-1] in ("pull-requests", "pipelines")
    assert all(len(batch) <= 4 for s in stages for batch in s.run_orders)
    name = platform.config.name
    first_env = next(s for s in stages if s.wave == f"env-{environments[0]}")
    assert first_env.run_orders[0] == [f"{name}-foundation-{environments[0]}"]  # before the services that use it


def test_a_wave_larger_than_a_stage_is_split_and_run_orders_respect_concurrency() -> None:
    nodes = [StackNode("x-cross-account-dev", "cross-account")]
    nodes.append(StackNode("x-foundation-dev", "env-dev", frozenset({"x-cross-account-dev"})))
    nodes += [
        StackNode(f"x-service-s{i:03}-dev", "env-dev", frozenset({"x-foundation-dev", "x-cross-account-dev"}))
        for i in range(120)
    ]
    stages = plan(nodes, wave_order(["dev"]), concurrency=10)
    check(stages, {n.name: n.dependencies for n in nodes})
    env = [s for s in stages if s.wave == "env-dev"]
    assert [s.name for s in env] == ["Wave-env-dev-1", "Wave-env-dev-2", "Wave-env-dev-3"]
    assert [len(s.stacks) for s in env] == [41, 50, 30]
    assert all(len(s.stacks) <= MAX_ACTIONS_PER_STAGE for s in env)
    assert env[0].run_orders[0] == ["x-foundation-dev"]


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([StackNode("a", "tooling", frozenset({"b"})), StackNode("b", "pipelines")], "depends on b of the later wave"),
        ([StackNode("a", "tooling", frozenset({"z"}))], "depends on z, which is not in the plan"),
        ([StackNode("a", "nowhere")], "wave 'nowhere' is not one of"),
        (
            [StackNode("a", "tooling", frozenset({"b"})), StackNode("b", "tooling", frozenset({"a"}))],
            "dependency cycle",
        ),
    ],
)
def test_plans_that_cannot_be_made_say_why(nodes: list[StackNode], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(nodes, wave_order(["dev"]))


def test_concurrency_and_the_checker_refuse_what_codepipeline_would() -> None:
    with pytest.raises(ValueError, match="concurrency 51; allowed: 1 to 50"):
        plan([], wave_order(["dev"]), concurrency=51)
    with pytest.raises(ValueError, match="allowed: 1 to 25"):
        plan([], wave_order(["dev"]), concurrency=30, actions_per_stack=2)
    stages = plan([StackNode("a", "tooling"), StackNode("b", "tooling", frozenset({"a"}))], wave_order([]))
    stages[0].run_orders.reverse()  # b before a
    with pytest.raises(ValueError, match="b is deployed no later than a"):
        check(stages, {"a": set(), "b": {"a"}})
