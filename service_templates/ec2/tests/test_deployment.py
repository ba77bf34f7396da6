"""The CodeDeploy revision: appspec.yml hooks, and the hook scripts run for real.

The scripts run without systemd (APP_SYSTEMD=0), against a temporary APP_ROOT and a
free local port, so this works on a laptop and in CodeBuild alike.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash")
HOOKS = ("ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService")

pytestmark = pytest.mark.skipif(BASH is None or os.name != "posix", reason="the hook scripts need bash")


def hook_locations() -> dict[str, str]:
    """hook -> script, read from appspec.yml without a YAML library."""
    locations: dict[str, str] = {}
    hook = None
    for line in (ROOT / "appspec.yml").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^  ([A-Za-z]+):\s*$", line)
        if match:
            hook = match.group(1)
        match = re.match(r"^\s*- location:\s*(\S+)\s*$", line)
        if match and hook:
            locations[hook] = match.group(1)
    return locations


def test_every_hook_has_an_existing_script() -> None:
    locations = hook_locations()
    assert set(locations) == set(HOOKS)
    for script in locations.values():
        assert (ROOT / script).is_file(), script


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.sh")))
def test_script_syntax(script: str) -> None:
    subprocess.run([BASH, "-n", str(ROOT / "scripts" / script)], check=True)  # noqa: S603


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def deploy_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env_file = tmp_path / "environment"
    env_file.write_text(f"PORT={port}\nSERVICE_NAME=demo\nENVIRONMENT=test\n", encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APP_ENV_FILE": str(env_file),
        "APP_ROOT": str(tmp_path / "opt" / "app"),
        "APP_RUN_DIR": str(tmp_path / "run"),
        "APP_SYSTEMD": "0",
        "APP_PYTHON": sys.executable,
        "APP_START_GRACE": "0.3",
        "APP_HEALTH_INTERVAL": "0.1",
        "APP_HEALTH_RETRIES": "50",
        "TEST_PORT": str(port),
    }
    yield env
    pid_file = tmp_path / "run" / "app.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


def run_hook(hook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = ROOT / hook_locations()[hook]
    return subprocess.run(  # noqa: S603
        [BASH, str(script)], env={**env, "LIFECYCLE_EVENT": hook}, capture_output=True, text=True, timeout=60
    )


def test_deploy_serve_and_stop(deploy_env: dict[str, str]) -> None:
    for hook in ("ApplicationStop", "BeforeInstall"):
        assert run_hook(hook, deploy_env).returncode == 0
    shutil.copytree(ROOT / "app", Path(deploy_env["APP_ROOT"]) / "app", dirs_exist_ok=True)
    for hook in ("AfterInstall", "ApplicationStart", "ValidateService"):
        result = run_hook(hook, deploy_env)
        assert result.returncode == 0, result.stdout + result.stderr

    url = f"http://127.0.0.1:{deploy_env['TEST_PORT']}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200

    assert run_hook("ApplicationStop", deploy_env).returncode == 0
    failed = run_hook("ValidateService", {**deploy_env, "APP_HEALTH_RETRIES": "2"})
    assert failed.returncode != 0
    assert "unhealthy" in failed.stderr
