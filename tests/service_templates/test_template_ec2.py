"""The EC2 template: its AppSpec, and its CodeDeploy hook scripts run for real.

CodeDeploy is simulated: the build artifact's files form the revision, each deployment
gets its own copy (the "deployment archive") from which the hooks run in appspec order,
and Install copies the revision into APP_ROOT. ApplicationStop runs from the previous
deployment's archive, as CodeDeploy does. No systemd (APP_SYSTEMD=0), no root needed:
a temporary APP_ROOT, run dir and environment file, and free ports on 127.0.0.1.
"""

from __future__ import annotations

import ast
import contextlib
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "service_templates" / "ec2"
HOOKS = ("ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService")
LIFECYCLE = ("ApplicationStop", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService")
BASH = shutil.which("bash") or "/bin/bash"


def appspec() -> dict[str, Any]:
    return yaml.safe_load((TEMPLATE / "appspec.yml").read_text(encoding="utf-8"))


def test_appspec() -> None:
    spec = appspec()
    assert str(spec["version"]) == "0.0"
    assert spec["os"] == "linux"
    assert spec["files"] == [{"source": "/", "destination": "/opt/app"}]
    assert list(spec["hooks"]) == list(HOOKS)
    for hook in HOOKS:
        (entry,) = spec["hooks"][hook]
        script = TEMPLATE / entry["location"]
        assert script.is_file(), entry["location"]
        assert os.access(script, os.X_OK), f"{entry['location']} is not executable"
        assert script.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in script.read_text(encoding="utf-8")
        assert isinstance(entry["timeout"], int)
        assert 0 < entry["timeout"] <= 3600


def test_server_stays_python_3_9_compatible() -> None:
    """The instance runs the server with Amazon Linux 2023's python3 (3.9)."""
    for path in (TEMPLATE / "app").glob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))


# ----- the hook scripts, run for real -------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an unreaped zombie is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, response.read()


class CodeDeploySimulator:
    def __init__(self, tmp_path: Path, port: int) -> None:
        self.tmp = tmp_path
        self.port = port
        self.app_root = tmp_path / "opt" / "app"
        self.run_dir = tmp_path / "run"
        self.env_file = tmp_path / "etc" / "environment"
        self.env_file.parent.mkdir(parents=True)
        # As the instance's user data writes it, plus what an admin might add.
        self.env_file.write_text(
            f'# written by user data\r\nPORT={port}\r\nSERVICE_NAME="storefront"\r\nexport ENVIRONMENT=dev\r\n'
            "not a setting\r\n",
            encoding="utf-8",
        )
        self.deployments = 0
        self.previous_archive: Path | None = None
        self.archive: Path | None = None
        self.pids: list[int] = []
        self.base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "APP_ENV_FILE": str(self.env_file),
            "APP_ROOT": str(self.app_root),
            "APP_RUN_DIR": str(self.run_dir),
            "APP_SYSTEMD": "0",
            "APP_PYTHON": sys.executable,
            "APP_START_GRACE": "0.3",
            "APP_STOP_TIMEOUT": "10",
            "APP_HEALTH_INTERVAL": "0.1",
            "APP_HEALTH_RETRIES": "100",
            "APPLICATION_NAME": "acme-dev-storefront",
            "DEPLOYMENT_GROUP_NAME": "acme-dev-storefront",
        }

    def new_revision(self) -> None:
        """DownloadBundle: the build artifact's files (buildspec.yml) in a fresh archive."""
        self.deployments += 1
        self.previous_archive, self.archive = self.archive, self.tmp / f"archive-{self.deployments}"
        artifact_files = yaml.safe_load((TEMPLATE / "buildspec.yml").read_text())["artifacts"]["files"]
        for pattern in artifact_files:
            for source in TEMPLATE.glob(pattern):
                if source.is_file() and "__pycache__" not in source.parts:
                    target = self.archive / source.relative_to(TEMPLATE)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)

    def hook(self, name: str, archive: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        (entry,) = appspec()["hooks"][name]
        archive = archive or self.archive
        assert archive is not None
        result = subprocess.run(
            [str(archive / entry["location"])],
            env={**self.base_env, **env, "LIFECYCLE_EVENT": name, "DEPLOYMENT_ID": f"d-{self.deployments}"},
            cwd=self.tmp,  # not the archive: the scripts must not depend on the working directory
            capture_output=True,
            text=True,
            timeout=entry["timeout"],
            check=False,
        )
        pid = self.pid()
        if pid is not None and pid not in self.pids:
            self.pids.append(pid)
        return result

    def install(self) -> None:
        """Install: the revision's files into appspec.yml's destination (here APP_ROOT)."""
        assert self.archive is not None
        shutil.copytree(self.archive, self.app_root, dirs_exist_ok=True)

    def pid(self) -> int | None:
        pid_file = self.run_dir / "app.pid"
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def deploy(self, **env: str) -> dict[str, subprocess.CompletedProcess[str]]:
        """One deployment, in CodeDeploy's order; every hook must succeed.

        ApplicationStop runs from the previous deployment's archive; on the first
        deployment (where CodeDeploy has none) from the new one, with nothing running.
        """
        self.new_revision()
        results = {}
        for name in LIFECYCLE:
            if name == "Install":
                self.install()
                continue
            archive = self.previous_archive if name == "ApplicationStop" else None
            results[name] = result = self.hook(name, archive, **env)
            assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return results

    def cleanup(self) -> None:
        """Kill any server a test left running (and only a server: pids get reused)."""
        for pid in self.pids:
            try:
                ours = b"server.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                ours = alive(pid)  # no /proc: trust the pid
            if ours and alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def codedeploy(tmp_path: Path) -> Iterator[CodeDeploySimulator]:
    simulator = CodeDeploySimulator(tmp_path, free_port())
    try:
        yield simulator
    finally:
        simulator.cleanup()


def test_two_deployments_then_an_unhealthy_service(codedeploy: CodeDeploySimulator) -> None:
    port = codedeploy.port

    # First deployment: nothing runs yet, so ApplicationStop must cope with that.
    results = codedeploy.deploy()
    assert "no background server running" in results["ApplicationStop"].stdout
    assert "healthy: " in results["ValidateService"].stdout
    first_pid = codedeploy.pid()
    assert first_pid is not None
    assert alive(first_pid)
    status, body = get(port, "/health")
    assert (status, body) == (200, b'{"status": "ok"}')
    status, body = get(port, "/")
    assert status == 200
    assert b'"service": "storefront"' in body
    assert b'"environment": "dev"' in body

    # Second deployment, moved to another port by APP_PORT: ApplicationStop (from the
    # first revision) really stops the first server before the new one starts.
    new_port = free_port()
    results = codedeploy.deploy(APP_PORT=str(new_port))
    assert f"stopping server pid {first_pid}" in results["ApplicationStop"].stdout
    assert not alive(first_pid)
    assert not listening(port)
    second_pid = codedeploy.pid()
    assert second_pid is not None
    assert second_pid != first_pid
    assert get(new_port, "/health")[0] == 200

    # Stopped: ValidateService must fail, within its (short) retry budget.
    stop = codedeploy.hook("ApplicationStop", APP_PORT=str(new_port))
    assert stop.returncode == 0, stop.stderr
    assert not alive(second_pid)
    assert not listening(new_port)
    assert not (codedeploy.run_dir / "app.pid").exists()
    failed = codedeploy.hook("ValidateService", APP_PORT=str(new_port), APP_HEALTH_RETRIES="3")
    assert failed.returncode == 1
    assert f"unhealthy: http://127.0.0.1:{new_port}/health did not answer 200 after 3 attempt(s)" in failed.stderr


class Unhealthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_validate_service_fails_on_a_non_200_answer(codedeploy: CodeDeploySimulator) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), Unhealthy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        codedeploy.new_revision()
        result = codedeploy.hook("ValidateService", APP_PORT=str(server.server_address[1]), APP_HEALTH_RETRIES="2")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_application_start_fails_fast_when_the_port_is_taken(codedeploy: CodeDeploySimulator) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))  # the server binds 0.0.0.0: this port is taken for it
        busy.listen()
        codedeploy.new_revision()
        codedeploy.install()
        port = str(busy.getsockname()[1])
        assert codedeploy.hook("AfterInstall", APP_PORT=port).returncode == 0
        result = codedeploy.hook("ApplicationStart", APP_PORT=port, APP_START_GRACE="10")
    assert result.returncode == 1
    assert "exited right after starting" in result.stderr
    assert "Address already in use" in result.stderr  # the server's log, shown by the hook
    assert not (codedeploy.run_dir / "app.pid").exists()


def test_application_stop_ignores_a_stale_pid_file(codedeploy: CodeDeploySimulator) -> None:
    codedeploy.run_dir.mkdir(parents=True)
    (codedeploy.run_dir / "app.pid").write_text(f"{os.getpid()}\n")  # alive, but not our server
    codedeploy.new_revision()
    result = codedeploy.hook("ApplicationStop")
    assert result.returncode == 0, result.stderr
    assert alive(os.getpid())
    assert not (codedeploy.run_dir / "app.pid").exists()


def test_bad_settings_fail_with_a_clear_message(codedeploy: CodeDeploySimulator) -> None:
    codedeploy.new_revision()
    result = codedeploy.hook("BeforeInstall", APP_PORT="eighty")
    assert result.returncode == 1
    assert "port must be a number from 1 to 65535, got 'eighty'" in result.stderr
    result = codedeploy.hook("BeforeInstall", APP_PYTHON="no-such-python3")
    assert result.returncode == 1
    assert "'no-such-python3' not found" in result.stderr


def test_env_file_parsing_and_unit_rendering(codedeploy: CodeDeploySimulator, tmp_path: Path) -> None:
    """The systemd path cannot run here; render the unit it would install and check it."""
    unit = tmp_path / "app.service"
    script = (
        '. "$1/scripts/common.sh"; app_settings; '
        'printf "%s|%s|%s|%s\\n" "$APP_PORT" "$SERVICE_NAME" "$ENVIRONMENT" "$APP_PID_FILE"; '
        'render_unit "$1/deploy/app.service" "$2" /usr/bin/python3'
    )
    result = subprocess.run(
        [BASH, "-c", script, "bash", str(TEMPLATE), str(unit)],
        env={**codedeploy.base_env, "APP_PORT": "9090"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"9090|storefront|dev|{codedeploy.run_dir}/app.pid"
    assert "ignoring malformed line" in result.stdout
    text = unit.read_text()
    assert not re.search(r"@[A-Z_]+@", text)
    assert f"ExecStart=/usr/bin/python3 {codedeploy.app_root}/app/server.py --port 9090" in text
    assert f"EnvironmentFile=-{codedeploy.env_file}" in text
    assert f"WorkingDirectory={codedeploy.app_root}" in text
    assert "DynamicUser=yes" in text


def test_first_deployment_on_a_fresh_instance_takes_the_port_from_the_health_placeholder(
    codedeploy: CodeDeploySimulator,
) -> None:
    """As an instance boots: the user data's placeholder answers the health check, then the first
    deployment (from the seeded revision) replaces it, on the same port."""
    from cdk_constructs.ec2_target import HealthPlaceholder

    port = codedeploy.port
    placeholder = HealthPlaceholder(port, "/health")
    root = codedeploy.tmp / "placeholder"
    (root / placeholder.health_file).parent.mkdir(parents=True, exist_ok=True)
    (root / placeholder.health_file).write_text("ok\n")
    process = subprocess.Popen(
        placeholder.command(python=sys.executable, root=str(root)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        codedeploy.run_dir.mkdir(parents=True, exist_ok=True)
        (codedeploy.run_dir / "placeholder.pid").write_text(f"{process.pid}\n")
        for _ in range(100):
            if listening(port):
                break
            threading.Event().wait(0.05)
        # What the load balancer sees before any deployment: healthy.
        assert get(port, "/health")[0] == 200

        results = codedeploy.deploy()

        assert f"stopping the health-check placeholder (pid {process.pid})" in results["BeforeInstall"].stdout
        assert process.wait(timeout=10) is not None
        assert not (codedeploy.run_dir / "placeholder.pid").exists()
        status, body = get(port, "/")
        assert status == 200 and b'"service": "storefront"' in body  # the app, not the placeholder
    finally:
        if process.poll() is None:
            process.kill()


def test_the_app_unit_takes_over_from_the_placeholder_unit() -> None:
    """systemd orders the placeholder's stop before the app's start only with both Conflicts= and After=."""
    unit = (TEMPLATE / "deploy" / "app.service").read_text(encoding="utf-8")
    assert "Conflicts=app-placeholder.service" in unit
    assert re.search(r"^After=.*\bapp-placeholder\.service\b", unit, re.MULTILINE)
