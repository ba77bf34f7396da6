#!/usr/bin/env python3
"""CDK entry point: read the config, build the platform's stacks, synthesize.

The only place that reads CDK context. A bad config stops here, before any construct exists,
so nothing is written to cdk.out. The synth settings are all public and documented; what each
one saves is measured in docs/performance.md.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

# A synth is one short process whose construct tree lives until the assembly is written: the
# cyclic collector has nothing to reclaim, only tens of thousands of generated classes to walk.
gc.disable()

import aws_cdk as cdk  # noqa: E402

# aws-cdk-lib's context key (cx_api.DISABLE_CREATION_STACK_TRACES) that stops it recording a
# stack trace for every CloudFormation element; `App(stack_traces=False)` does not set it.
CREATION_STACK_TRACES_OFF = "aws:cdk:disable-creation-stack-traces"


def platform_app(**props: Any) -> cdk.App:
    """A `cdk.App` with the platform's synth settings; `props` go to the App as they are.

    Built-in template validation is off because `make test` runs cfn-lint, a superset of its
    rules, over every template (PLATFORM_CFN_VALIDATE=true turns it on); stack traces are off
    (PLATFORM_STACK_TRACES=true turns them on).
    """
    stack_traces = os.environ.get("PLATFORM_STACK_TRACES") == "true"
    context = dict(props.pop("context", None) or {})
    if not stack_traces:
        context[CREATION_STACK_TRACES_OFF] = True
    return cdk.App(
        builtin_cloud_formation_validation=os.environ.get("PLATFORM_CFN_VALIDATE") == "true",
        stack_traces=stack_traces,
        context=context,
        **props,
    )


def main() -> int:
    from config import ConfigError, load_config
    from stacks.platform import build_platform

    app = platform_app()
    try:
        config = load_config(app.node.try_get_context("config"))
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    build_platform(app, config)
    app.synth()
    gc.freeze()  # the exit's last collection need not walk the construct tree either
    return 0


if __name__ == "__main__":
    sys.exit(main())
