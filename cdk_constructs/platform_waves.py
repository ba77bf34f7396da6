"""The platform pipeline's rollout plan (issue 20): every stack of the platform in waves, dependencies first.

Waves, in this order: the cross-account stacks of every environment; the shared tooling stacks
(tooling, CodeArtifact, notifications); per environment in promotion order, its foundation and its
service stacks; the service pipelines; pull-request validation. Inside a wave a stack comes after
every stack of the same wave it depends on (its run order, the longest chain of those below it), and
at most `concurrency` stacks share a run order (CodePipeline runs the actions of one run order in
parallel). A wave whose actions would pass CodePipeline's 50 actions per stage is split into
consecutive stages. A dependency on a later wave is an error: the plan would deploy a stack before
one it needs.

Plain data (stack names), so the platform pipeline's stack renders it and the tests check it against
the cloud assembly's own dependency graph (manifest.json).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# CodePipeline: "Maximum number of actions per stage: 50" (quotas page; botocore's model has no maximum).
MAX_ACTIONS_PER_STAGE = 50
DEFAULT_CONCURRENCY = 10
# Each stack's wave, as metadata of the stack in the cloud assembly: the pipeline's review and
# asset steps read which stacks a wave or an account has from there (a stage's configuration
# values hold 1,000 characters, too few for the names of a wave of hundreds of stacks).
WAVE_METADATA = "platform:wave"


@dataclass(frozen=True)
class StackNode:
    name: str
    wave: str  # the wave it belongs to (see wave_order)
    dependencies: frozenset[str] = frozenset()


@dataclass
class Stage:
    """One pipeline stage of a wave: run orders 1, 2, ... each with at most `concurrency` stacks."""

    name: str
    wave: str
    run_orders: list[list[str]] = field(default_factory=list)

    @property
    def stacks(self) -> list[str]:
        return [s for batch in self.run_orders for s in batch]


def wave_order(environments: Sequence[str]) -> list[str]:
    """The waves of a platform whose environments are ``environments``, in promotion order."""
    return ["cross-account", "tooling", *(f"env-{e}" for e in environments), "pipelines", "pull-requests"]


def _levels(nodes: Sequence[StackNode]) -> dict[str, int]:
    """Each stack's depth inside its wave: 0 with no dependency in the wave, else 1 + the deepest one."""
    inside = {n.name: n for n in nodes}
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(name: str) -> int:
        if name in depth:
            return depth[name]
        if name in visiting:
            raise ValueError(f"{name} is in a dependency cycle")
        visiting.add(name)
        below = [visit(d) for d in sorted(inside[name].dependencies) if d in inside]
        visiting.discard(name)
        depth[name] = 1 + max(below) if below else 0
        return depth[name]

    for node in nodes:
        visit(node.name)
    return depth


def actions_of(batch: Sequence[str], stacks_per_action: int) -> list[list[str]]:
    """A run order's stacks as pipeline actions: groups of at most ``stacks_per_action``."""
    return [list(batch[i : i + stacks_per_action]) for i in range(0, len(batch), stacks_per_action)]


def plan(
    nodes: Iterable[StackNode],
    waves: Sequence[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    actions_per_stack: int = 1,
    stacks_per_action: int = 1,
) -> list[Stage]:
    """The stages that deploy ``nodes`` wave by wave; ValueError naming what cannot be planned.

    ``concurrency`` is the number of actions of one run order; an action deploys up to
    ``stacks_per_action`` stacks (more than one: one CDK CLI deploy of the group, at scale).
    """
    if not 1 <= concurrency <= MAX_ACTIONS_PER_STAGE // actions_per_stack:
        raise ValueError(
            f"concurrency {concurrency}; allowed: 1 to {MAX_ACTIONS_PER_STAGE // actions_per_stack} "
            f"({MAX_ACTIONS_PER_STAGE} actions per CodePipeline stage, {actions_per_stack} per stack)"
        )
    if stacks_per_action < 1:
        raise ValueError(f"stacks_per_action {stacks_per_action}; allowed: 1 or more")
    nodes = list(nodes)
    by_name = {n.name: n for n in nodes}
    position = {w: i for i, w in enumerate(waves)}
    for node in nodes:
        if node.wave not in position:
            raise ValueError(f"{node.name}: wave {node.wave!r} is not one of {', '.join(waves)}")
        for dependency in sorted(node.dependencies):
            if dependency not in by_name:
                raise ValueError(f"{node.name} depends on {dependency}, which is not in the plan")
            if position[by_name[dependency].wave] > position[node.wave]:
                raise ValueError(
                    f"{node.name} (wave {node.wave}) depends on {dependency} of the later wave "
                    f"{by_name[dependency].wave}"
                )
    per_stage = MAX_ACTIONS_PER_STAGE // actions_per_stack
    stages: list[Stage] = []
    for wave in waves:
        members = [n for n in nodes if n.wave == wave]
        if not members:
            continue
        depth = _levels(members)
        batches: list[list[str]] = []
        for level in range(max(depth.values()) + 1):
            names = sorted(n for n, d in depth.items() if d == level)
            width = concurrency * stacks_per_action
            batches += [names[i : i + width] for i in range(0, len(names), width)]
        parts: list[list[list[str]]] = [[]]
        for batch in batches:
            used = sum(len(actions_of(b, stacks_per_action)) for b in parts[-1])
            if used + len(actions_of(batch, stacks_per_action)) > per_stage:
                parts.append([])
            parts[-1].append(batch)
        for index, part in enumerate(parts):
            suffix = f"-{index + 1}" if len(parts) > 1 else ""
            stages.append(Stage(name=f"Wave-{wave}{suffix}", wave=wave, run_orders=part))
    return stages


def check(
    stages: Sequence[Stage],
    dependencies: Mapping[str, Iterable[str]],
    actions_per_stack: int = 1,
    stacks_per_action: int = 1,
) -> None:
    """ValueError unless every stack is deployed once, after everything it depends on, within stage limits."""
    seen: dict[str, tuple[int, int]] = {}
    for s_index, stage_ in enumerate(stages):
        count = sum(len(actions_of(b, stacks_per_action)) for b in stage_.run_orders) * actions_per_stack
        if count > MAX_ACTIONS_PER_STAGE:
            raise ValueError(f"{stage_.name}: {count} actions; allowed: {MAX_ACTIONS_PER_STAGE}")
        for r_index, batch in enumerate(stage_.run_orders):
            for name in batch:
                if name in seen:
                    raise ValueError(f"{name} is deployed twice")
                seen[name] = (s_index, r_index)
    missing = sorted(set(dependencies) - set(seen))
    if missing:
        raise ValueError(f"not deployed: {', '.join(missing)}")
    for name, needs in dependencies.items():
        for dependency in needs:
            if dependency in dependencies and seen[dependency] >= seen[name]:
                raise ValueError(f"{name} is deployed no later than {dependency}, which it depends on")
