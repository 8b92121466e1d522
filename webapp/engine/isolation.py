"""Where a node's user code runs: in a sandbox process that can be measured and killed.

A template, a condition or a processing step is code a user wrote. The sandbox in
``sandbox.py`` refuses what it can see coming; what it cannot (a filter chain that
builds gigabytes, a ``sum`` over billions) is bounded here, as n8n's task runners and
RQ's work-horse do it: the step runs in a separate process whose address space is
capped, and the thread that asked waits for the answer with the run's stop signal in
hand. A cancelled or timed-out run, or a step past ``step_timeout``, gets its process
killed (the CPU is free at once) and a fresh one takes its place; a process that
runs out of memory fails its step as ``resource_limit``. A result comes back only
once the sandbox has checked its size, so the worker never holds a runaway value.

Nodes reach a sandbox as ``(type, id, config)`` and are rebuilt there once (compiled
templates cannot be pickled), with only the upstream values they refer to. Other work on
users' code (a test's regular expressions and JSON Schemas) comes as a call of a function
registered with ``@sandboxed(name)``, by that name (``SandboxPool.call``).
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .bounds import bounded
from .errors import Interrupted, NodeError
from .expressions import Expressions
from .nodes import ConfigReader, RunContext, node_type

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # how often a waiting thread looks at its stop signal
BUILT_NODES = 256  # rebuilt nodes a sandbox keeps, most recently used
_CONTEXT = multiprocessing.get_context("forkserver")  # fork-safe in a threaded worker, and quick to start
_CONTEXT.set_forkserver_preload([f"{__package__}.sandbox_forkserver"])  # the engine, without the main script

Stop = Callable[[], object]  # truthy when the run that asked must end now


_SANDBOXED: dict[str, Callable[[Any], Any]] = {}  # name → function: what a sandbox may be asked to call


def sandboxed(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register a function of one picklable argument as callable in a sandbox by ``name``.
    Its module is imported in the sandbox on its first call there (registering it there
    too), so it should import little: only what the function needs."""

    def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        known = _SANDBOXED.get(name)
        if known is not None and _where(known) != _where(function):  # the same one imported again is fine
            raise ValueError(f"{name!r} is already registered for {_where(known)}")
        _SANDBOXED[name] = function
        return function

    return register


def _where(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _registered(name: str) -> Callable[[Any], Any]:
    function = _SANDBOXED.get(name)
    if function is None:
        raise NodeError("internal_error", f"no function is registered to run in a sandbox as {name!r}")
    return function


class Isolation(Protocol):
    def prepare(self, node, ctx: RunContext, stop: Stop) -> Any:
        """``node.impl.prepare(ctx)``, bounded; raises ``NodeError`` or ``Interrupted``."""

    def call(self, name: str, payload: Any, stop: Stop, timeout: float | None = None) -> Any:
        """The ``@sandboxed(name)`` function's result on ``payload``, bounded; raises
        ``NodeError`` (it failed, its process died or ran past ``timeout``) or ``Interrupted``."""


class InProcess:
    """No sandbox process: for the engine's own tests and tools, never for users' runs."""

    def prepare(self, node, ctx: RunContext, stop: Stop) -> Any:
        return node.impl.prepare(ctx)

    def call(self, name: str, payload: Any, stop: Stop, timeout: float | None = None) -> Any:
        return _registered(name)(payload)


@dataclass(frozen=True)
class Bounds:
    memory_bytes: int  # address space a sandbox may add to what it starts with
    step_timeout: float  # seconds one step may compute
    max_chars: int  # the sandbox's render bound (MAX_RENDER_CHARS)
    max_output_bytes: int  # MAX_NODE_OUTPUT_BYTES


# A task: ("node", type, id, config, values) or ("call", module, name, payload).
WARM_TASK = ("node", "processing", "_warm", {"operation": "template", "template": "{{ [1]|first }}"}, {})


class SandboxPool:
    """Up to ``processes`` sandboxes per process, started on demand and kept warm; the
    first one can be started ahead of any step (``warm``)."""

    def __init__(self, processes: int, bounds: Bounds) -> None:
        self.size, self.bounds = max(processes, 1), bounds
        self.ready = threading.Condition()
        self._reset()

    def _reset(self) -> None:
        self.pid, self.idle, self.alive = os.getpid(), [], 0

    def prepare(self, node, ctx: RunContext, stop: Stop) -> Any:
        values = {k: ctx.values[k] for k in node.impl.needs if k in ctx.values}
        return self._run(("node", node.type, node.id, node.config, values), stop, self.bounds.step_timeout)

    def call(self, name: str, payload: Any, stop: Stop, timeout: float | None = None) -> Any:
        """Call the ``@sandboxed(name)`` function on ``payload`` in a sandbox, for at most
        ``timeout`` seconds (and never longer than a step may take)."""
        module = _registered(name).__module__  # only what this process registered is asked for
        limit = self.bounds.step_timeout if timeout is None else min(timeout, self.bounds.step_timeout)
        return self._run(("call", module, name, payload), stop, max(limit, 0.0))

    def _run(self, task: tuple, stop: Stop, timeout: float) -> Any:
        sandbox = self._take(stop)
        keep = False
        try:
            status, payload, keep = sandbox.ask(task, stop, timeout)
        finally:
            self._give_back(sandbox, keep)
        if status == "ok":
            return payload
        raise NodeError(*payload)

    def warm(self) -> None:
        """Start a sandbox now and hand it one task, so that the first step of this
        process finds it ready: starting the forkserver and a sandbox takes a second or
        so, which a step would otherwise wait for. One only: more start on demand (from
        the forkserver, in milliseconds), and an idle one costs memory."""
        with self.ready:
            if self.alive:
                return  # a step got there first
        try:
            sandbox = self._take(lambda: False)
        except Exception:  # the first step will try again, and say why
            log.warning("could not start a sandbox process ahead of the first step", exc_info=True)
            return
        keep = False
        try:
            _, _, keep = sandbox.ask(WARM_TASK, lambda: False, self.bounds.step_timeout)
        finally:
            self._give_back(sandbox, keep)

    def close(self) -> None:
        with self.ready:
            idle, self.idle = self.idle, []
            self.alive -= len(idle)
        for sandbox in idle:
            sandbox.kill()

    def _take(self, stop: Stop) -> _Sandbox:
        with self.ready:
            if self.pid != os.getpid():  # a forked child inherits no live sandboxes
                self._reset()
            while True:
                if self.idle:
                    sandbox = self.idle.pop()
                    if sandbox.process.is_alive():
                        return sandbox
                    self.alive -= 1  # died while idle (the OOM killer): start another
                    sandbox.conn.close()
                elif self.alive < self.size:
                    self.alive += 1
                    break
                else:
                    self.ready.wait(POLL_SECONDS)
                    if stop():
                        raise Interrupted
        try:
            return _Sandbox(self.bounds)
        except BaseException:
            self._give_back(None, False)
            raise

    def _give_back(self, sandbox: _Sandbox | None, keep: bool) -> None:
        if sandbox is not None and not keep:
            sandbox.kill()
        with self.ready:
            if keep:
                self.idle.append(sandbox)
            else:
                self.alive -= 1
            self.ready.notify()


class _Sandbox:
    def __init__(self, bounds: Bounds) -> None:
        self.conn, theirs = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(theirs, bounds), name="sandbox", daemon=True)
        self.process.start()
        self.killed_here = False  # by ``kill``: this process's own doing
        theirs.close()

    def ask(self, task: tuple, stop: Stop, timeout: float) -> tuple[str, Any, bool]:
        """Send the task, wait for the answer; kill on stop or timeout (the caller does)."""
        deadline = time.monotonic() + timeout
        oom_kills = _oom_kills()
        try:
            self.conn.send(task)
            while not self.conn.poll(POLL_SECONDS):
                if stop():
                    raise Interrupted
                if time.monotonic() >= deadline:
                    return "error", ("resource_limit", f"the step computed for longer than {timeout:g} s"), False
            return self.conn.recv()
        except (EOFError, OSError):  # it died mid-step: (a MemoryError is answered, not died of)
            self.process.join(1)
            return "error", how_it_ended(self.process.exitcode, self.killed_here, oom_kills, _oom_kills()), False

    def kill(self) -> None:
        self.killed_here = True
        self.process.kill()
        self.process.join(5)
        self.conn.close()


def how_it_ended(
    exitcode: int | None, killed_here: bool, oom_kills_before: int | None, oom_kills_after: int | None
) -> tuple[str, str]:
    """The node's error code and message for a sandbox that died mid-step, from what is
    known: its exit status, whether this process killed it, and whether the kernel's
    out-of-memory killer killed anything meanwhile (``/proc/vmstat``)."""
    if killed_here:
        return "internal_error", "the step's process was stopped by the worker"
    if exitcode is None:
        return "internal_error", "the step's process stopped answering"
    if exitcode >= 0:
        return "internal_error", f"the step's process exited (status {exitcode}) without answering"
    name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else f"signal {-exitcode}"
    known = oom_kills_before is not None and oom_kills_after is not None
    if exitcode == -signal.SIGKILL and known and oom_kills_after > oom_kills_before:
        return "resource_limit", (
            "the step's process was killed by the system's out-of-memory killer: the machine ran short "
            "of memory (a step over its own memory bound fails with MemoryError instead)"
        )
    return "internal_error", f"the step's process was killed by {name}, not by the worker"


def _oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has killed since boot (Linux)."""
    try:
        with open("/proc/vmstat") as vmstat:
            for line in vmstat:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# -- inside a sandbox process ------------------------------------------------------------


def _serve(conn, bounds: Bounds) -> None:
    """Answer tasks until the pipe closes. After a ``MemoryError`` the process retires:
    whatever it was building is not worth trusting its heap to."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker; it kills us
    _cap_memory(bounds.memory_bytes)
    expressions = Expressions(bounds.max_chars)
    built: OrderedDict = OrderedDict()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        keep = True
        try:
            made = _perform(task, built, expressions)
            # Measured here, before the pipe: the worker never receives a value over the bound.
            result = bounded(made, bounds.max_output_bytes, "what the step made", look_first=True)
            reply = ("ok", result, True)
        except NodeError as exc:
            reply = ("error", (exc.code, exc.message), True)
        except MemoryError:
            result = None
            megabytes = bounds.memory_bytes // 2**20
            reply, keep = ("error", ("resource_limit", f"the step needed more than {megabytes} MB"), False), False
        except Exception as exc:  # a bug in a node fails the node, not the sandbox
            failed = NodeError("internal_error", f"{type(exc).__name__}: {exc}")  # its message clipped
            reply = ("error", (failed.code, failed.message), True)
        conn.send(reply)
        if not keep:
            return


def _perform(task: tuple, built: OrderedDict, expressions: Expressions) -> Any:
    if task[0] == "call":
        _, module, name, payload = task
        importlib.import_module(module)  # registers its functions here, once per sandbox
        return _registered(name)(payload)
    _, kind, node_id, config, values = task
    node = _node(built, expressions, kind, node_id, config)
    return node.prepare(RunContext(node_id, values))


def _node(built: OrderedDict, expressions: Expressions, kind: str, node_id: str, config: dict):
    key = (kind, node_id, repr(config))
    node = built.get(key)
    if node is None:
        problems: list = []
        node = node_type(kind)(node_id, config, ConfigReader(config, "config", expressions, problems))
        if problems:  # validated before it was saved: only a different code version could disagree
            raise NodeError("internal_error", f"the node no longer validates: {problems[0].message}")
        built[key] = node
        while len(built) > BUILT_NODES:
            built.popitem(last=False)
    built.move_to_end(key)
    return node


def _cap_memory(extra: int) -> None:
    """Cap the address space at what the process holds now plus ``extra``."""
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: cap the total instead
        current = 0
    limit = current + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
