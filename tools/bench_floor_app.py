"""The benchmark's floor: a CDK app with one empty stack, run like app.py (same CLI, flags and runtime tuning).

With --with-platform-imports it first imports every module the platform imports (and so every
aws-cdk-lib service module it uses) and still synthesizes one empty stack: the difference to
the plain floor is the cost of loading those modules.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import end_kernel_warmup, keep_collector_off_what_exists, platform_app, stop_cyclic_collection, tune_runtime

stop_cyclic_collection()
tune_runtime(warm_up=True)
if "--with-platform-imports" in sys.argv:
    import stacks.platform  # noqa: F401

import aws_cdk as cdk  # noqa: E402

end_kernel_warmup()

app = platform_app()
cdk.Stack(app, "Empty", env=cdk.Environment(account="111111111111", region="eu-west-1"))
app.synth()
keep_collector_off_what_exists()
