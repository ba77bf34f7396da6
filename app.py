#!/usr/bin/env python3
"""CDK entry point: read the config, validate it, build the stacks.

The only place that reads the environment or CDK context. A bad config stops here,
before any construct exists, so nothing is written to cdk.out.

Six defaults of the CDK toolchain, of jsii and of Python are changed here because together they
cost more than the rest of synth (docs/performance.md): aws-cdk-lib's built-in template
validation (`make test` runs cfn-lint, a superset of its rules, over every template;
PLATFORM_CFN_VALIDATE=true turns it back on), the stack traces it records for every construct
(PLATFORM_STACK_TRACES=true), jsii's runtime re-check of every argument of every call (what
`python -O` skips; the tests keep it; PLATFORM_TYPE_CHECKS=true), jsii's relay process between
Python and the Node kernel (PLATFORM_JSII_RELAY=true keeps it), Node recompiling every
aws-cdk-lib module on every run and loading them only when first used, while it sat idle as
Python imported (the kernel runs with Node's compile cache and warms up: app_kernel_preload.js),
and Python's cyclic garbage collector walking the tens of thousands of generated classes
aws-cdk-lib loads, while they are imported, during synth and once more at exit.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aws_cdk as cdk

# The jsii release whose process launcher `talk_to_jsii_directly` stands in for (see there).
JSII_DIRECT_VERSION = "1.142.0"

# aws-cdk-lib's context key (cx_api.DISABLE_CREATION_STACK_TRACES) that stops it recording a
# stack trace for every CloudFormation element; `App(stack_traces=False)` does not set it.
CREATION_STACK_TRACES_OFF = "aws:cdk:disable-creation-stack-traces"

# Loaded into jsii's kernel before the kernel itself: Node's compile cache and the warm-up (see there).
KERNEL_PRELOAD = Path(__file__).resolve().with_name("app_kernel_preload.js")

# The kernel's end of the request channel while it warms up (non-blocking until end_kernel_warmup).
_warmup: dict[str, Any] = {}


class _NoTypeHints(dict[str, Any]):
    """What jsii's generated code gets instead of resolved type hints: None for every argument."""

    def __missing__(self, _argument: str) -> None:
        return None


def tune_runtime(*, type_checks: bool | None = None, warm_up: bool = False) -> None:
    """Call before importing aws_cdk: the direct kernel channel, and no per-call type checks.

    `type_checks=True` keeps jsii's checks (the tests do); by default PLATFORM_TYPE_CHECKS=true
    does. PLATFORM_JSII_RELAY=true keeps jsii's relay process. `warm_up=True` lets the kernel
    load what this program loaded last time while Python imports (app_kernel_preload.js); the
    caller must then call end_kernel_warmup() once its imports are done.
    """
    if os.environ.get("PLATFORM_JSII_RELAY") != "true" and talk_to_jsii_directly() and warm_up:
        # One list per program and arguments: the app, the bench's floor, ... load different modules.
        program = json.dumps([str(Path(sys.argv[0]).resolve()), *sys.argv[1:], str(Path.cwd())])
        _warmup["key"] = hashlib.sha256(program.encode()).hexdigest()[:32]
    if type_checks is None:
        type_checks = os.environ.get("PLATFORM_TYPE_CHECKS") == "true"
    if not type_checks:
        skip_jsii_type_checks()


def compile_cache_directory() -> Path | None:
    """Where the kernel keeps Node's compile cache and its warm-up lists; None: nowhere safe.

    PLATFORM_NODE_COMPILE_CACHE, else <XDG_CACHE_HOME or ~/.cache>/pipelines-platform/
    node-compile-cache. Node would use <tmp>/node-compile-cache, which any local user can create
    first and fill; compiled code and the list of files to load must come from a directory only
    this user can write, as jsii's own package cache does. Created private (0700) if missing; an
    existing one that another user owns, or that group or others can write, is not used.
    """
    named = os.environ.get("PLATFORM_NODE_COMPILE_CACHE")
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        directory = Path(named) if named else base / "pipelines-platform" / "node-compile-cache"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = directory.stat()
    except (OSError, RuntimeError):  # no home directory, a read-only file system, ...
        return None
    if status.st_uid != os.getuid() or status.st_mode & 0o022:
        return None
    return directory


def end_kernel_warmup() -> None:
    """Python's imports are done: the kernel's request channel blocks again (no-op without warm-up).

    Until then the kernel spends each moment without a request loading one more module of its
    warm-up list, and polls every 0.2 ms when the list is done.
    """
    channel = _warmup.pop("channel", None)
    if channel is not None:
        channel.setblocking(True)
        channel.close()


def skip_jsii_type_checks() -> None:
    """Skip jsii's typeguard check of every call argument.

    That is what `python -O` skips, but `-O` itself does not help: it needs optimized bytecode
    that pip does not install. Both the check and the type-hint resolution feeding it go (the
    generated modules bind `cached_type_hints` when they are imported). If jsii renames these
    hooks, the assignments do nothing and the checks simply stay on.
    """
    import jsii._type_checking as checks

    no_hints = _NoTypeHints()
    checks._resolved_check = lambda **_: None
    checks.cached_type_hints = lambda stub: no_hints


def talk_to_jsii_directly() -> bool:
    """Start jsii's Node kernel without the relay process jsii puts in front of it; True if done.

    jsii's Python runtime starts `node jsii-runtime.js`, which starts a second Node process for
    the kernel (program.js, requests on its fd 3) and copies every request and every response
    between the two, to keep the kernel's console output off the request channel
    (aws/jsii#2406). Each of the ~1,450 calls of a default-config synth pays those two extra
    hops: a round trip takes ~0.2 ms directly and ~0.4 ms through the relay. Here the kernel is
    started the way the relay starts it (same Node flags; KERNEL_PRELOAD in place of
    --preserve-symlinks, for the compile cache), its fd 3 is one
    end of a socket pair, and its console output goes straight to this process's stdout and
    stderr, where the relay would have copied it. Only for the jsii release this was written
    against and on POSIX (fd passing); otherwise jsii starts as it ships. Call before the first
    jsii call (importing aws_cdk is one).
    """
    if os.name != "posix" or "JSII_RUNTIME" in os.environ:
        return False
    import jsii
    from jsii._kernel.providers import process as jsii_process

    if jsii.__version__ != JSII_DIRECT_VERSION:
        return False
    jsii_process._NodeProcess.start = _start_kernel_directly  # type: ignore[method-assign]
    return True


def _start_kernel_directly(self: Any) -> None:
    """`_NodeProcess.start` of jsii 1.142.0, with program.js started instead of its relay."""
    import atexit
    import platform
    import threading

    environ = os.environ.copy()
    environ["JSII_AGENT"] = f"Python/{platform.python_version()}"
    cache = compile_cache_directory()
    if cache is None:
        environ.pop("PLATFORM_NODE_COMPILE_CACHE", None)
    else:
        environ["PLATFORM_NODE_COMPILE_CACHE"] = str(cache)
    relay = self._jsii_runtime()  # writes jsii's embedded bin/ and lib/ to a temporary directory
    program = Path(relay).parent.parent / "lib" / "program.js"
    ours, kernels = socket.socketpair()
    warmup_key = _warmup.get("key")
    if warmup_key is not None:
        environ["PLATFORM_KERNEL_WARMUP"] = warmup_key
        kernels.setblocking(False)  # the kernel's reads return at once while it warms up
    node = environ.get("JSII_NODE", "node")
    # The shell moves the kernel's end of the socket from stdin to fd 3, where program.js reads
    # and writes requests, and execs Node in its place (no preexec_fn: safe with threads).
    kernel = subprocess.Popen(  # noqa: S603 - jsii's own node and kernel, the relay's flags
        [
            "/bin/sh",
            "-c",
            'exec "$0" "$@" 3<&0 </dev/null',
            node,
            "--max-old-space-size=4069",
            "--require",
            str(KERNEL_PRELOAD),
            str(program),
        ],
        stdin=kernels.fileno(),
        env=environ,
    )
    if warmup_key is not None:
        _warmup["channel"] = kernels  # same open file as the kernel's fd 3: end_kernel_warmup unblocks
    else:
        kernels.close()
    self._process = _KernelChannel(kernel, ours)
    self.sink_thread = threading.Thread(target=lambda: None)  # no relay output to decode
    atexit.register(self.stop)
    self.handshake()


class _KernelChannel:
    """The part of subprocess.Popen that jsii's _NodeProcess uses, over the kernel's socket."""

    def __init__(self, kernel: subprocess.Popen[bytes], channel: socket.socket) -> None:
        self._kernel = kernel
        self.stdin = _RequestWriter(channel)
        self.stdout = channel.makefile("rb")
        self.stderr = io.BytesIO()  # the kernel writes to this process's stderr itself
        channel.close()  # the two file objects keep the socket open until both are closed

    def wait(self, timeout: float | None = None) -> int:
        return self._kernel.wait(timeout)

    def terminate(self) -> None:
        self._kernel.terminate()


class _RequestWriter:
    """Requests to the kernel; closing it is end-of-file for the kernel, as closing a pipe is."""

    def __init__(self, channel: socket.socket) -> None:
        self._channel = channel
        self._file = channel.makefile("wb")

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._file.flush()
            self._channel.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the kernel has gone already
        self._file.close()


def stop_cyclic_collection() -> None:
    """No cyclic garbage collection for the rest of this process (gc.disable); call first thing.

    Importing aws-cdk-lib's generated modules allocates tens of thousands of classes and
    functions, and each collection the allocations trigger walks everything alive again: ~0.15 s
    of the import alone, more during synth. A synth is one short process whose construct tree
    lives until it writes the assembly, so there is nothing to reclaim early: the peak memory of
    a 200-service synth is the same without the collector (docs/performance.md). Objects are
    still freed by reference counting.
    """
    gc.disable()


def keep_collector_off_what_exists() -> None:
    """Move every object alive now out of the garbage collector's sight (gc.freeze).

    Called once the assembly is written: the interpreter runs one last collection at exit even
    with the collector disabled, and frozen objects (the whole construct tree and every module)
    are not walked by it. Nothing is leaked: the process ends right after.
    """
    gc.freeze()


def platform_app(**props: Any) -> cdk.App:
    """A `cdk.App` with the platform's synth settings; `props` go to the App as they are.

    aws-cdk-lib's built-in template validation is off (PLATFORM_CFN_VALIDATE=true turns it on),
    and so are stack traces (PLATFORM_STACK_TRACES=true): the one aws-cdk-lib records for every
    metadata entry (`stack_traces`) and the one it records for every CloudFormation element
    (`aws:cdk:creationStack`, a context key of its own). Both are JavaScript stack traces of
    the jsii kernel, and they put the kernel's temporary directory into every synth's metadata.
    """
    import aws_cdk as cdk

    stack_traces = os.environ.get("PLATFORM_STACK_TRACES") == "true"
    context = dict(props.pop("context", None) or {})
    if not stack_traces:
        context[CREATION_STACK_TRACES_OFF] = True
    return cdk.App(
        builtin_cloud_formation_validation=os.environ.get("PLATFORM_CFN_VALIDATE") == "true",
        stack_traces=stack_traces,
        context=context,
        **props,
    )


def main() -> int:
    stop_cyclic_collection()
    tune_runtime(warm_up=True)

    from config import ConfigError, load_config
    from stacks.platform import build_platform

    end_kernel_warmup()
    app = platform_app()
    config_path = app.node.try_get_context("config")
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    build_platform(app, config)
    app.synth()
    keep_collector_off_what_exists()
    return 0


if __name__ == "__main__":
    sys.exit(main())
