"""checkov (CloudFormation framework, no downloads) over every template: only explained skips.

checkov pins an older boto3 than the project, so it runs from its own virtualenv
(.venv-checkov), which `make install` creates.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS: dict[str, dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "checkov_skips.yaml").read_text())


def run_checkov(templates: list[Path]) -> list[dict[str, Any]]:
    """Failed checks of `templates` as checkov reports them."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make install` (checkov lives in its own virtualenv)")
    command = [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact", "-o", "json"]
    for template in templates:
        command += ["-f", str(template)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode not in (0, 1):  # 1 = some checks failed
        pytest.fail(f"checkov exited {result.returncode}: {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [failed for report in reports for failed in report.get("results", {}).get("failed_checks", [])]


def skip_for(failed: dict[str, Any]) -> str | None:
    entry = SKIPS.get(failed["check_id"])
    if entry and any(fnmatch.fnmatchcase(failed["resource"], pattern) for pattern in entry["resources"]):
        return str(failed["check_id"])
    return None


@pytest.fixture(scope="module")
def failed_checks(default_platform) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return run_checkov(list(default_platform.template_files()))


def test_every_failed_check_is_an_explained_skip(failed_checks: list[dict[str, Any]]) -> None:
    unexplained = [
        f"{f['check_id']} {f['check_name']} | {Path(f['file_path']).name} {f['resource']}"
        for f in failed_checks
        if skip_for(f) is None
    ]
    assert unexplained == [], "\n".join(unexplained)


def test_every_skip_has_a_reason_and_is_still_needed(failed_checks: list[dict[str, Any]]) -> None:
    used = {skip_for(f) for f in failed_checks}
    for check, entry in SKIPS.items():
        assert len(str(entry.get("reason", "")).split()) >= 10, f"{check} needs a reason a reviewer accepts"
        assert entry.get("resources"), f"{check} must name the resources it covers"
        assert check in used, f"{check} is skipped but nothing fails it any more: remove the skip"


def test_the_gate_fails_an_unexplained_finding(tmp_path: Path) -> None:
    template = tmp_path / "open.template.json"
    template.write_text(json.dumps({"Resources": {"Open": {"Type": "AWS::S3::Bucket", "Properties": {}}}}))
    failed = run_checkov([template])
    assert failed, "checkov found nothing in a bare bucket"
    assert [f for f in failed if skip_for(f) is None]
