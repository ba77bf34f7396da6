#!/usr/bin/env python3
"""CDK entry point: read the config, validate it, build the stacks.

The only place that reads the environment or CDK context. A bad config stops here,
before any construct exists, so nothing is written to cdk.out.

Three defaults of the CDK toolchain are off here because together they cost more than the
rest of synth (docs/performance.md): aws-cdk-lib's built-in template validation (`make test`
runs cfn-lint, a superset of its rules, over every template; PLATFORM_CFN_VALIDATE=true turns
it back on), a stack trace recorded for every construct (PLATFORM_STACK_TRACES=true), and
jsii's runtime re-check of every argument of every call (what `python -O` skips; the tests
keep it; PLATFORM_TYPE_CHECKS=true).
"""

from __future__ import annotations

import os
import sys


def _skip_jsii_type_checks() -> None:
    """Skip jsii's typeguard check of every call argument, as `python -O` would.

    `-O` itself does not help: it needs optimized bytecode that pip does not install. If jsii
    renames this hook, the assignment does nothing and the checks simply stay on.
    """
    import jsii._type_checking as checks

    checks._resolved_check = lambda **_: None


def main() -> int:
    if os.environ.get("PLATFORM_TYPE_CHECKS") != "true":
        _skip_jsii_type_checks()

    import aws_cdk as cdk

    from config import ConfigError, load_config
    from stacks.platform import build_platform

    app = cdk.App(
        builtin_cloud_formation_validation=os.environ.get("PLATFORM_CFN_VALIDATE") == "true",
        stack_traces=os.environ.get("PLATFORM_STACK_TRACES") == "true",
    )
    config_path = app.node.try_get_context("config")
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    build_platform(app, config)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
