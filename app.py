#!/usr/bin/env python3
"""CDK entry point: read the config, validate it, build the stacks.

The only place that reads the environment or CDK context. A bad config stops here,
before any construct exists, so nothing is written to cdk.out.
"""

from __future__ import annotations

import sys


def main() -> int:
    import aws_cdk as cdk

    from config import ConfigError, load_config
    from stacks.platform import build_platform

    app = cdk.App()
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
