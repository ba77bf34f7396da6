"""Each template's own unit tests (what its CodeBuild Test stage runs) pass.

They run in a subprocess, in a copy of the template: the copy proves the template is
self-contained (its own pytest.ini, no help from this repository) and keeps caches out
of service_templates/, whose content is what new repositories are seeded with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "service_templates"


@pytest.mark.parametrize("platform", ["ec2", "ecs", "lambda"])
def test_template_unit_tests_pass(platform: str, tmp_path: Path) -> None:
    repo = tmp_path / platform
    shutil.copytree(
        TEMPLATES / platform, repo, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "dist", "reports")
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=reports/junit.xml"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert (repo / "reports" / "junit.xml").is_file()
