"""Benchmark synth time, template sizes against AWS limits, and the test suite.

    make bench        # writes docs/performance.md and docs/synth-time.png

Every synth is a whole process through the pinned CDK CLI (`cdk synth`), as a user runs it.
The figures written to docs/performance.md are the ones this run printed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tools.scale_config import scaled_config
from tools.template_limits import Measures

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
DOCS = REPO_ROOT / "docs"
FLOOR_APP = REPO_ROOT / "tools" / "bench_floor_app.py"
SIZES = (1, 10, 50, 100, 200)
RUNS = 7  # medians of floor, floor + imports and default (interleaved)
SIZE_RUNS = 2  # per generated config; the fastest counts (interference only ever adds time)

TARGET_RATIO = 2.5  # default config synth / empty-app floor
TARGET_MARGINAL = 0.3  # seconds per service
TARGET_RESOURCES = 400
TARGET_BYTES = 800_000
TARGET_SUITE = 90.0  # seconds


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    return env


def synth(outdir: Path, *args: str) -> float:
    """Seconds for one `cdk synth` process writing to `outdir`."""
    shutil.rmtree(outdir, ignore_errors=True)
    command = [str(CDK), "synth", "--quiet", "--no-notices", "-o", str(outdir), *args]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def measure(outdir: Path) -> tuple[Measures, int]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    measures = Measures()
    stacks = 0
    for name, artifact in manifest["artifacts"].items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        stacks += 1
        path = outdir / artifact["properties"]["templateFile"]
        account = artifact["environment"].split("/")[2]
        measures.add_template(name, account, json.loads(path.read_text()), path.stat().st_size)
    return measures, stacks


def resource_count(outdir: Path) -> int:
    """Resources in every template of a synthesized assembly."""
    return sum(len(json.loads(path.read_text()).get("Resources", {})) for path in outdir.glob("*.template.json"))


def platform_modules() -> int:
    """aws-cdk-lib modules loaded by importing the platform (its own imports and theirs)."""
    probe = (
        "import sys; import stacks.platform; "
        "print(sum(1 for m in sys.modules if m.startswith('aws_cdk.') and m.count('.') == 1 and '._' not in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip())


def slope(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and R² of (services, seconds)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    b = sxy / sxx
    a = mean_y - b * mean_x
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in points)
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    return b, a, 1 - ss_res / ss_tot if ss_tot else 1.0


@dataclass
class SizeResult:
    services: int
    seconds: float
    stacks: int
    measures: Measures


def main() -> int:
    if not CDK.exists():
        raise SystemExit("run `make install` first (the pinned CDK CLI is missing)")
    out = Path(tempfile.mkdtemp(prefix="bench-"))
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(
        f"# run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {platform.python_version()}"
    )

    # 1. Floor and default config, alternating so that drift hits both alike (one warm-up each first,
    #    so both start with the same compile cache and bytecode).
    synth(out / "floor", "--app", f"{sys.executable} {FLOOR_APP}")
    synth(out / "default")
    floor: list[float] = []
    imports: list[float] = []
    default: list[float] = []
    for _ in range(RUNS):
        floor.append(synth(out / "floor", "--app", f"{sys.executable} {FLOOR_APP}"))
        imports.append(synth(out / "imports", "--app", f"{sys.executable} {FLOOR_APP} --with-platform-imports"))
        default.append(synth(out / "default"))
    floor_median, default_median = statistics.median(floor), statistics.median(default)
    imports_median = statistics.median(imports)
    ratio = default_median / floor_median
    _, default_stacks = measure(out / "default")
    default_resources, modules = resource_count(out / "default"), platform_modules()
    say(f"empty-app floor   : median {floor_median:.2f} s of {[round(t, 2) for t in floor]}")
    say(
        f"default config    : median {default_median:.2f} s of {[round(t, 2) for t in default]}, "
        f"{default_stacks} stacks, {default_resources} resources"
    )
    say(f"ratio             : {ratio:.2f} (target <= {TARGET_RATIO})")
    say(
        f"floor + imports   : median {imports_median:.2f} s of {[round(t, 2) for t in imports]} (the empty stack after "
        "importing every module the platform imports)"
    )

    # 2. Generated configs: synth time and what the templates weigh against AWS limits.
    results: list[SizeResult] = []
    for count in SIZES:
        config = out / f"platform-{count}.yaml"
        config.write_text(yaml.safe_dump(scaled_config(count), sort_keys=False))
        seconds = min(synth(out / f"scale-{count}", "-c", f"config={config}") for _ in range(SIZE_RUNS))
        measures, stacks = measure(out / f"scale-{count}")
        results.append(SizeResult(count, seconds, stacks, measures))
        largest = measures.largest
        say(
            f"{count:4d} services: {seconds:6.2f} s, {stacks:4d} stacks, largest stack "
            f"{largest['resources_per_stack'].value} resources ({largest['resources_per_stack'].where}), "
            f"largest template {largest['template_bytes'].value:,} bytes"
        )
    marginal, intercept, r2 = slope([(r.services, r.seconds) for r in results])
    low, _, _ = slope([(r.services, r.seconds) for r in results if r.services <= 50])
    high, _, _ = slope([(r.services, r.seconds) for r in results if r.services >= 50])
    # Linear or better: the cost per service must not rise as services are added.
    linear = high <= 1.3 * low
    say(
        f"marginal synth    : {marginal:.3f} s per service (target < {TARGET_MARGINAL}); fit {intercept:.2f} s + "
        f"{marginal:.3f} s x services, R^2 {r2:.4f}"
    )
    say(
        f"growth            : {low:.3f} s/service up to 50, {high:.3f} s/service from 50: "
        + ("no faster than linear" if linear else "FASTER than linear")
    )

    # 3. Test suite.
    start = time.perf_counter()
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    suite_seconds = time.perf_counter() - start
    summary = suite.stdout.strip().splitlines()[-1] if suite.stdout.strip() else suite.stderr[-200:]
    say(f"test suite        : {suite_seconds:.1f} s ({summary}) (target < {TARGET_SUITE:.0f} s)")

    biggest = results[-1]
    verdicts = {
        f"default synth <= {TARGET_RATIO}x floor": ratio <= TARGET_RATIO,
        f"marginal synth < {TARGET_MARGINAL} s/service": marginal < TARGET_MARGINAL,
        "synth time grows no faster than linearly with services": linear,
        f"no stack over {TARGET_RESOURCES} resources at 200 services": (
            biggest.measures.largest["resources_per_stack"].value <= TARGET_RESOURCES
        ),
        f"no template over {TARGET_BYTES // 1000} KB at 200 services": (
            biggest.measures.largest["template_bytes"].value <= TARGET_BYTES
        ),
        "every limit under 80 % at 200 services": not biggest.measures.over(0.8),
        f"test suite < {TARGET_SUITE:.0f} s": suite_seconds < TARGET_SUITE and suite.returncode == 0,
    }
    for text, ok in verdicts.items():
        say(f"{'PASS' if ok else 'MISS'}  {text}")

    _plot(results, intercept, marginal, floor_median, default_median)
    _write_report(
        lines,
        results,
        floor,
        imports,
        default,
        default_stacks,
        default_resources,
        modules,
        ratio,
        marginal,
        intercept,
        r2,
        low,
        high,
        suite_seconds,
        summary,
        verdicts,
    )
    shutil.rmtree(out, ignore_errors=True)
    return 0 if all(verdicts.values()) else 1


def _plot(results: list[SizeResult], intercept: float, marginal: float, floor: float, default: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r.services for r in results]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    axes.plot(xs, [r.seconds for r in results], "o", label=f"cdk synth (fastest of {SIZE_RUNS} per size)")
    axes.plot(
        [0, xs[-1]],
        [intercept, intercept + marginal * xs[-1]],
        "-",
        label=f"fit: {intercept:.1f} s + {marginal:.3f} s x services",
    )
    axes.axhline(floor, linestyle=":", color="grey", label=f"empty-app floor ({floor:.1f} s)")
    axes.axhline(default, linestyle="--", color="green", label=f"default config, 3 services ({default:.1f} s)")
    axes.set_xlabel("services (mixed EC2, ECS, Lambda; two environments)")
    axes.set_ylabel("seconds, whole cdk synth process")
    axes.set_title("Synth time against the number of services")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    DOCS.mkdir(exist_ok=True)
    figure.savefig(DOCS / "synth-time.png")


def _write_report(
    lines: list[str],
    results: list[SizeResult],
    floor: list[float],
    imports: list[float],
    default: list[float],
    default_stacks: int,
    default_resources: int,
    modules: int,
    ratio: float,
    marginal: float,
    intercept: float,
    r2: float,
    low: float,
    high: float,
    suite_seconds: float,
    summary: str,
    verdicts: dict[str, bool],
) -> None:
    biggest = results[-1]
    rows = "\n".join(
        f"| {r.services} | {r.seconds:.2f} | {r.stacks} | {r.measures.largest['resources_per_stack'].value} | "
        f"{r.measures.largest['template_bytes'].value:,} |"
        for r in results
    )
    limit_rows = "\n".join(
        f"| {name} | {value:,} | {limit:,} | {value / limit:.0%} | {where} |"
        for name, value, limit, where in biggest.measures.rows()
    )
    verdict_rows = "\n".join(f"| {text} | {'met' if ok else 'missed'} |" for text, ok in verdicts.items())
    text = f"""# Performance and scale

Written by `make bench` (`tools/bench.py`); every figure below is one the run printed. Synth
times are whole `cdk synth` processes through the pinned CLI, on this machine
({os.cpu_count()} cores, Python {platform.python_version()}).

## Targets

| target | result |
|---|---|
{verdict_rows}

## Synth time

- Empty-app floor (one empty stack): median **{statistics.median(floor):.2f} s** of {RUNS} runs
  ({", ".join(f"{t:.2f}" for t in floor)}).
- Default config (3 services, 2 environments, {default_stacks} stacks): median **{statistics.median(default):.2f} s**
  ({", ".join(f"{t:.2f}" for t in default)}), **{ratio:.2f}x** the floor.
- The floor after importing every module the platform imports (still one empty stack): median
  **{statistics.median(imports):.2f} s** ({", ".join(f"{t:.2f}" for t in imports)}).
- Generated configs: fit {intercept:.2f} s + **{marginal:.3f} s per service** (R² {r2:.4f});
  {low:.3f} s/service up to 50 services, {high:.3f} s/service from 50 on.

![synth time against services](synth-time.png)

Each generated size is synthesized {SIZE_RUNS} times and the fastest run counts.

| services | synth (s) | stacks | largest stack (resources) | largest template (bytes) |
|---|---|---|---|---|
{rows}

Each service adds one pipeline stack in the tooling account and one service stack per
environment, so no stack grows with the number of services except the pull-request stack's
templates: one association resource per approval rule template lists its repositories.

## Limits at {biggest.services} services

Policy sizes count every CloudFormation intrinsic as 100 characters, an upper bound
(`tools/template_limits.py`). `tests/unit/test_scale_limits.py` asserts the same limits with
20 % headroom in the normal test run (and at 20 target accounts).

| measure | largest | limit | share | where |
|---|---|---|---|---|
{limit_rows}

## Test suite

`python -m pytest`: **{suite_seconds:.1f} s** ({summary}).

## Why the default config is {ratio:.2f}x the floor

Of the default config's {statistics.median(default) - statistics.median(floor):.2f} s above the floor,
{statistics.median(imports) - statistics.median(floor):.2f} s is only importing what the platform
uses (the floor + imports row: {modules} aws-cdk-lib modules, most of them thousands of generated
Python classes, and the config model); the other
{statistics.median(default) - statistics.median(imports):.2f} s builds and synthesizes
{default_stacks} stacks of {default_resources} resources through jsii (~1,450 Python/Node round trips) and
stages the assets. The floor loads aws-cdk-lib's core alone, so no platform that deploys EC2, ECS,
Lambda, CodePipeline and EventBridge resources can come close to it; against the floor + imports
the default config is {statistics.median(default) / statistics.median(imports):.2f}x.

Where the build time goes (a `node --cpu-prof` profile of the kernel, cProfile of the Python
side, one default-config run each): ~0.4 s is Node loading the aws-cdk-lib modules the platform
uses (0.09 s of it compiling what the compile cache does not hold; region-info alone is 0.07 s,
for the partition lookups of environment-specific stacks), which made the first stack of each
kind cost 3-6 times the second until the kernel loaded them while Python imports (warm-up,
below); ~0.1 s is jsii hashing its tarballs, which
the floor pays too; ~0.2 s is the kernel's own request handling and ~0.4 s Python's side of the
~1,450 round trips; the rest is aws-cdk-lib's own construct and synthesis work (token resolution,
template rendering). None of it is repeated per service, which is why the marginal cost per
service is low. What would close more of the gap is upstream: jsii pipelining calls instead of
a synchronous ping-pong per call (aws/jsii#5166).

## What was measured and changed to get here

- **Built-in template validation.** aws-cdk-lib runs cfn-guard rules (compiled to WebAssembly)
  over every template at synth. Profiling the Node side (`node --cpu-prof` through `JSII_NODE`)
  showed it took ~2.4 s of a ~2.9 s synthesis of the default platform, and it grows with every
  stack. It duplicates cfn-lint, which runs over every template in `make test`, so `app.py`
  turns it off (`PLATFORM_CFN_VALIDATE=true` turns it back on).
- **Stack traces and runtime type checks.** aws-cdk-lib records a stack trace for every
  construct (and, under a context key of its own that `stack_traces=False` does not set, one more
  for every CloudFormation element: ~0.06 s of Node time), and jsii re-checks every argument of
  every call with typeguard after resolving the type hints of each generated stub (~250 distinct
  stubs, 0.1-0.15 s); `app.py` turns all of it off (`PLATFORM_STACK_TRACES=true`,
  `PLATFORM_TYPE_CHECKS=true`; the tests keep the checks).
  `python -O` was tried first and rejected: without cached optimized bytecode it recompiles
  aws-cdk-lib on every run (8 s instead of 4).
- **Garbage collection.** Timing the process after its last statement showed Python's
  shutdown taking 0.25-0.43 s, almost all of it the final cyclic collections over the tens of
  thousands of generated classes and the construct tree (the jsii runtime itself stops in
  0.03-0.07 s); and the ~350 collections that importing the generated modules triggers cost
  another ~0.15 s. `app.py` disables the cyclic collector before the first import (a synth is
  one short process whose objects all live until the assembly is written: the peak memory of a
  200-service synth is 135 MB either way) and freezes everything before exit: shutdown now
  takes ~0.05 s. The floor app runs the same tuning, so the ratio compares like with like.
- **jsii's relay process.** jsii's Python runtime starts `node bin/jsii-runtime.js`, which starts
  the kernel (`lib/program.js`) as a second Node process and copies every request and response
  between the two, to keep the kernel's console output off the request channel (aws/jsii#2406).
  500 trivial calls timed in a loop: 360-500 µs per round trip through the relay, 180-250 µs
  with Python talking to the kernel directly. `app.py` starts the kernel itself, with the relay's
  Node flags, its request channel (fd 3) on a socket pair and its console output on our stderr:
  ~0.25 s less at ~1,450 round trips, and one Node process fewer to start (the floor gains that
  too). Only for the pinned jsii 1.142.0 on POSIX (`tests/unit/test_app.py` compares templates
  and errors both ways and fails on a jsii upgrade); `PLATFORM_JSII_RELAY=true` keeps the relay.
  The tests use the direct channel too, so every snapshot test exercises it.
- **Node's compile cache.** Compiling aws-cdk-lib's JavaScript took ~0.3 s of every run
  (`wrapSafe` in the profile). Node's compile cache is keyed by file path, and the kernel loaded
  every module through a new `jsii-kernel-XXXXXX` directory per process (its
  `--preserve-symlinks`), so the cache never hit and grew with every run (113 MB). The kernel now
  starts with a small preload instead of that flag (`app_kernel_preload.js`): Node loads each
  package from its real path in jsii's package cache, the same on every run; jsii still links
  packages by symlink; dependencies resolve through the kernel's directory as `NODE_PATH`. The
  cache (in a directory private to the user, not Node's default under the shared `/tmp`) holds
  ~8 MB and stops growing after the first run (`tests/unit/test_app.py` checks that a second run
  adds nothing); compile time is down to ~0.09 s, ~0.13 s less per synth.
- **Kernel warm-up.** aws-cdk-lib loads each of its modules on first use, so the first stack
  of each kind waited for Node to load dozens of files (3-6 times the cost of the second), while
  a moment earlier Node sat idle for the ~0.5 s Python spent importing its side of the same
  modules. `app_kernel_preload.js` writes the package files the kernel loaded, in order, to a
  list per program (`<compile cache>/platform-kernel-warmup/`); on the next run `app.py` keeps
  the kernel's request channel non-blocking until its imports are done, and the kernel loads one
  listed file whenever it would otherwise wait, only from the packages jsii has linked
  (`tests/unit/test_app.py` plants a file that must not load). Medians of 12 interleaved
  in-process runs: 2.66 -> 2.45 s for the default config; the floor, which warms up too, does
  not change (0.59 s either way), as it has almost nothing to load.
- **Additional usage data.** `cdk.json` had `@aws-cdk/core:enableAdditionalMetadataCollection`
  on (the `cdk init` default): aws-cdk-lib then records every construct's properties and every
  method call (1,400 metadata entries for the default config, redacted one by one) as usage data
  for AWS. It is off now, AWS's documented opt-out: templates change only in the `CDKMetadata`
  resource's compressed `Analytics` string (1.1 KB shorter in the notifications stack), the
  metadata is half the size, ~0.2 s less per synth (medians of 10 interleaved runs).
- **Acknowledgements.** `Validations.of(c).acknowledge()` records a stack trace per rule and walks
  the whole subtree below `c` once per rule to drop aws-cdk-lib warnings with that id (there are
  none for cdk-nag ids). `cdk_constructs/nag.py` writes the same metadata entry itself
  (`tests/unit/test_nag.py` compares the two): median of 8 in-process runs 3.32 -> 3.12 s.
- **jsii round trips.** cProfile of `build_platform` counted 1,786 round trips for the default
  config: logical ids for acknowledgements are now computed in Python with aws-cdk-lib's own
  algorithm, acknowledgements on one construct go in one call, tags are set once on the app, and
  grants made once per role, leaving ~1,450.
- **IAM roles.** CDK's defaults made 10-13 roles per pipeline stack (~2,200 at 200 services,
  over the default quota of 1,000 roles per account): pipelines now run same-account actions as
  their own role, build and test share a role, and EventBridge starts pipelines and pull-request
  builds as one shared role.
- **Per-role inline policies.** The pull-request stack's custom-resource role collected one
  policy per association batch (~15,000 characters at 200 services, over IAM's 10,240 per role);
  it is granted once, by name pattern.
- **Event-bus policy.** One statement listing the target accounts (~33 characters per account)
  instead of one statement per account (~330).
- Tried and not kept: a larger V8 young generation (`--max-semi-space-size` 16-64 MB: Node's GC time
  78-113 ms against 82 ms). Switching off tree.json, the analytics resource or version reporting,
  and writing the acknowledgement key as a literal instead of reading it from aws-cdk-lib (the
  validation module is loaded at synth anyway): no difference beyond noise.
- Also tried and not kept (app alone, medians of 10-16 interleaved runs, paired differences;
  single runs vary by ±15 % on this machine): importing the aws-cdk-lib modules on a second
  thread while the kernel creates the App (no gain: that is 0.05-0.09 s of Node work, and the
  build needs the modules); V8 flags on the kernel (`--always-sparkplug`,
  `--no-lazy-feedback-allocation`, `--no-opt --no-maglev`, `--max-lazy`; with the compile cache,
  `--no-lazy` so that it holds every function, and `--no-opt`) and pinning both
  processes to one core (within noise); `python -OO` with optimized bytecode compiled at install
  (-0.07 s from 40 % smaller `.pyc` files to unmarshal, for 23 s more install and no docstrings at
  run time). The default config's four per-service
  VPCs cost ~0.23 s (measured with both environments on an existing VPC); a shared VPC per
  environment would save about half of that.

## Raw output

```
{chr(10).join(lines)}
```
"""
    DOCS.mkdir(exist_ok=True)
    (DOCS / "performance.md").write_text(text, encoding="utf-8")
    print(f"wrote {DOCS / 'performance.md'} and {DOCS / 'synth-time.png'}")


if __name__ == "__main__":
    sys.exit(main())
