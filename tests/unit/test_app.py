"""app.py end to end: a bad config stops synth with its message and writes nothing; the jsii kernel channel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
import pytest
from jsii._kernel.providers import process as jsii_process

import app

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"

BAD_CONFIG = """\
name: acme
tooling: {account: "12345", region: eu-west-1}
environments:
  - name: dev
services:
  - name: Orders_API
    platform: ecs
"""


def run_app(config: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    """Run app.py as the CDK CLI does: context in CDK_CONTEXT_JSON, output dir in CDK_OUTDIR."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"config": str(config)}), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_bad_config_stops_app_with_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_CONFIG)
    outdir = tmp_path / "cdk.out"
    result = run_app(config, outdir)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Invalid platform config {config}:",
        '  - tooling.account: got "12345"; allowed: exactly 12 digits',
        "  - environments[0].account: missing; required: 12-digit AWS account id of this environment.",
        '  - services[0].name: got "Orders_API"; allowed: 2 to 24 characters, lowercase letters, digits and '
        "single hyphens, starting with a letter and not ending with a hyphen (a service name becomes part of "
        "CodeCommit, CodeBuild, IAM, S3, ECR and Lambda names)",
    ]
    assert not outdir.exists() or not any(outdir.iterdir())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"name: acme\nname: other\n", "name: given twice, on lines 1 and 2"),
        ("name: acm\xe9\n".encode("latin-1"), "line 1: byte 0xe9 is not UTF-8"),
        (
            b'name: acme\ntooling: {account: "111111111111", region: eu-west-1}\nenvironments:\n'
            b'  - {name: dev, account: "222222222222", network: {cidr: 10.300.0.0/16}}\n',
            'environments[0].network.cidr: got "10.300.0.0/16"; allowed: an IPv4 network',
        ),
    ],
)
def test_what_used_to_end_in_a_traceback_is_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_bytes(content)
    result = run_app(config, tmp_path / "cdk.out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"Invalid platform config {config}:" and lines[1].startswith(f"  - {problem}"), lines


def test_missing_config_file_stops_app(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    result = run_app(tmp_path / "missing.yaml", outdir)
    assert result.returncode == 1
    assert "config file not found" in result.stderr
    assert not outdir.exists() or not any(outdir.iterdir())


@pytest.mark.cli
@pytest.mark.skipif(not CDK_CLI.exists(), reason="run `make install` (npm ci) for the pinned CDK CLI")
def test_cdk_cli_synth_with_bad_config_fails_and_leaves_no_content(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_CONFIG)
    outdir = tmp_path / "cdk.out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(CDK_CLI), "synth", "-c", f"config={config}", "-o", str(outdir), "--no-notices"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert 'tooling.account: got "12345"; allowed: exactly 12 digits' in result.stderr
    assert not outdir.exists() or not any(outdir.iterdir()), list(outdir.iterdir())
    shutil.rmtree(outdir, ignore_errors=True)


# Builds a small stack in a fresh interpreter tuned like app.py; prints what the test compares.
KERNEL_PROBE = """
import json, os, sys
sys.path.insert(0, os.getcwd())
from app import end_kernel_warmup, tune_runtime
tune_runtime(warm_up=os.environ.get("PROBE_WARM_UP") == "1")
import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam, aws_s3 as s3
end_kernel_warmup()
app = cdk.App()
stack = cdk.Stack(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True, versioned=True)
bucket.grant_read(iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com")))
try:
    s3.Bucket(stack, "Bucket")
    duplicate = None
except RuntimeError as error:
    duplicate = str(error)
channel = jsii.kernel.provider._process._process
pid = channel._kernel.pid if hasattr(channel, "_kernel") else channel.pid
with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
    command = cmdline.read().decode().rstrip("\\0").split("\\0")
template = app.synth().get_stack_by_name("Probe").template
print(json.dumps({"pid": pid, "command": command, "duplicate": duplicate, "template": template}))
"""


def probe_kernel(**env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", KERNEL_PROBE],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    found["stderr"] = result.stderr
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's command line from /proc")
def test_jsii_kernel_runs_without_relay_and_answers_as_through_it() -> None:
    direct = probe_kernel()
    relayed = probe_kernel(PLATFORM_JSII_RELAY="true")
    direct_command, relayed_command = direct["command"], relayed["command"]
    assert isinstance(direct_command, list) and isinstance(relayed_command, list)
    # Python talks to the kernel itself, not to jsii's relay (bin/jsii-runtime.js) in front of it.
    assert direct_command[-1].endswith("/lib/program.js"), direct_command
    # Node loads packages from their real paths (the compile cache's keys); jsii is told otherwise.
    assert direct_command[-3:-1] == ["--require", str(app.KERNEL_PRELOAD)]
    assert "--preserve-symlinks" not in direct_command
    assert relayed_command[-1].endswith("/bin/jsii-runtime.js"), relayed_command
    # Same answers: kernel errors arrive as Python exceptions, the template is identical.
    assert "There is already a Construct with name 'Bucket'" in str(direct["duplicate"])
    assert direct["duplicate"] == relayed["duplicate"]
    assert direct["template"] == relayed["template"]
    # The kernel exits with the interpreter (it was waited for, so nothing is left running).
    for found in (direct, relayed):
        assert not Path(f"/proc/{found['pid']}").exists(), f"kernel {found['pid']} outlived its interpreter"


def test_jsii_kernel_reuses_what_earlier_runs_compiled_and_loaded(tmp_path: Path) -> None:
    """Node's compile cache keys modules by path: a second run must add nothing to it, only read it.

    Under --preserve-symlinks every module's path went through the kernel's new temporary
    directory, so each run wrote a new entry for every module and found none. The warm-up list
    holds package files only, and the kernel loads nothing else, whatever the list says.
    """
    cache = tmp_path / "node-compile-cache"

    def compiled() -> dict[str, int]:
        files = (f for f in cache.rglob("*") if f.is_file() and "platform-kernel-warmup" not in f.parts)
        return {str(f.relative_to(cache)): f.stat().st_size for f in files}

    first = probe_kernel(PLATFORM_NODE_COMPILE_CACHE=str(cache), PROBE_WARM_UP="1")
    written = compiled()
    # core, s3 and iam, and what they load: well over a hundred modules, none of them program.js.
    assert len(written) > 100, written
    [listing] = (cache / "platform-kernel-warmup").glob("*.json")
    loaded = json.loads(listing.read_text())
    # Every package file the probe loaded, in order, all inside jsii's package cache.
    assert any(f.endswith("/aws-s3/lib/bucket.js") for f in loaded), loaded[:5]
    assert not [f for f in loaded if "/package-cache/" not in f or "jsii-kernel-" in f]

    marker = tmp_path / "loaded"
    planted = tmp_path / "planted.js"
    planted.write_text(f"require('fs').writeFileSync({json.dumps(str(marker))}, 'x');\n")
    listing.write_text(json.dumps([str(planted), *loaded]))
    # The list of a program that has not run for 31 days (a clone deleted long ago) is pruned.
    forgotten = listing.with_name("0" * 32 + ".json")
    forgotten.write_text("[]")
    month_ago = forgotten.stat().st_mtime - 31 * 24 * 3600
    os.utime(forgotten, (month_ago, month_ago))
    second = probe_kernel(PLATFORM_NODE_COMPILE_CACHE=str(cache), PROBE_WARM_UP="1")
    assert compiled() == written
    assert not forgotten.exists()
    assert not marker.exists()
    assert json.loads(listing.read_text()) == loaded  # rewritten from what was really loaded
    assert first["template"] == second["template"]
    assert "Error" not in str(second["stderr"]), second["stderr"]


def test_compile_cache_lives_where_only_this_user_can_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_NODE_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    made = app.compile_cache_directory()
    assert made == tmp_path / "xdg" / "pipelines-platform" / "node-compile-cache"
    assert made.stat().st_mode & 0o777 == 0o700

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # as if another user had created it in /tmp first
    monkeypatch.setenv("PLATFORM_NODE_COMPILE_CACHE", str(shared))
    assert app.compile_cache_directory() is None


@pytest.mark.parametrize("package_cache", ["enabled", "disabled"])
def test_compile_cache_only_where_jsii_keeps_packages_at_fixed_paths(tmp_path: Path, package_cache: str) -> None:
    """Without jsii's package cache every run extracts the packages to new paths: no cache then."""
    cache = tmp_path / "cache"
    # What the kernel does first: create its module directory (the preload starts the cache there).
    creates_kernel_dir = "require('fs').mkdtempSync(require('path').join(require('os').tmpdir(), 'jsii-kernel-'))"
    subprocess.run(
        [str(Path(sys.executable).with_name("node")), "--require", str(app.KERNEL_PRELOAD), "-e", creates_kernel_dir],
        env={
            **os.environ,
            "TMPDIR": str(tmp_path),
            "PLATFORM_NODE_COMPILE_CACHE": str(cache),
            "JSII_RUNTIME_PACKAGE_CACHE": package_cache,
        },
        check=True,
        timeout=60,
    )
    assert cache.exists() == (package_cache == "enabled")


def test_jsii_kernel_console_output_still_reaches_stderr(tmp_path: Path) -> None:
    """What the relay used to forward: the kernel's own logging (JSII_DEBUG) lands on stderr."""
    direct = probe_kernel(JSII_DEBUG="1", PLATFORM_NODE_COMPILE_CACHE=str(tmp_path))
    assert "[@jsii/kernel] load" in str(direct["stderr"])
    assert isinstance(direct["template"], dict)
    # A program that does not ask for warm-up (this probe) leaves no warm-up list.
    assert any(tmp_path.iterdir())
    assert not (tmp_path / "platform-kernel-warmup").exists()


def test_direct_channel_only_for_the_jsii_release_it_was_written_against(monkeypatch: pytest.MonkeyPatch) -> None:
    def stock_start(self: object) -> None:
        raise AssertionError("not called")

    monkeypatch.setattr(jsii_process._NodeProcess, "start", stock_start)
    monkeypatch.setattr(jsii, "__version__", "1.999.0")
    assert app.talk_to_jsii_directly() is False
    assert jsii_process._NodeProcess.start is stock_start

    monkeypatch.setattr(jsii, "__version__", app.JSII_DIRECT_VERSION)
    assert app.talk_to_jsii_directly() is True
    assert jsii_process._NodeProcess.start is app._start_kernel_directly


def test_installed_jsii_is_the_release_the_direct_channel_was_written_against() -> None:
    """A jsii upgrade fails here: compare jsii's new _NodeProcess.start with app._start_kernel_directly."""
    assert jsii.__version__ == app.JSII_DIRECT_VERSION
