"""Would AWS accept it? Simulate a synthesized platform against its accounts' execution policies.

    python -m tools.preflight                          # cdk.out against the policies of the default config
    python -m tools.preflight -c my-platform.yaml      # (synthesize it first: cdk synth -c config=...)
    python -m tools.preflight --policies DIR           # the <account>.json files bootstrap --write-policies wrote
    python -m tools.preflight --summary                # failures and counts only

Exit status 1 when any request would be denied or any other check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config import ConfigError, load_config
from config.policies import execution_policies
from tools.preflight.simulate import simulate
from tools.preflight.template import Assembly


def read_policies(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """`<account>.json` files, one execution policy document each."""
    found = {path.stem: [json.loads(path.read_text())] for path in sorted(directory.glob("*.json"))}
    if not found:
        raise FileNotFoundError(f"no <account>.json policy documents in {directory}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", help="platform config file (default: config/platform.yaml)")
    parser.add_argument("--assembly", default="cdk.out", help="synthesized cloud assembly (default: cdk.out)")
    parser.add_argument("--policies", help="directory of <account>.json execution policies (default: from the config)")
    parser.add_argument("--summary", action="store_true", help="print failures and counts, not the listed checks")
    args = parser.parse_args(argv)
    assembly_dir = Path(args.assembly)
    if not (assembly_dir / "manifest.json").is_file():
        print(f"preflight: no cloud assembly in {assembly_dir}: run `make synth` (or cdk synth) first", file=sys.stderr)
        return 2
    try:
        if args.policies:
            policies = read_policies(Path(args.policies))
        else:
            policies = {
                account: [document] for account, document in execution_policies(load_config(args.config)).items()
            }
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 2
    report = simulate(Assembly(assembly_dir), policies)
    print(report.render(detail=not args.summary))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
