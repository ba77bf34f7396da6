#!/usr/bin/env python3
"""CDK entry point: read the config, validate it, build the stacks.

The only place that reads the environment or CDK context. A bad config stops here,
before any construct exists, so nothing is written to cdk.out.

aws-cdk-lib's built-in template validation is off by default: `make test` runs cfn-lint
(a superset of its rules) over every template, and at synth time the built-in pass costs
more than the whole rest of synthesis. PLATFORM_CFN_VALIDATE=true turns it back on.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    import aws_cdk as cdk

    from config import ConfigError, load_config
    from stacks.platform import build_platform

    app = cdk.App(builtin_cloud_formation_validation=os.environ.get("PLATFORM_CFN_VALIDATE") == "true")
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
