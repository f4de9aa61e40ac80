"""The Docker backend (production): one container per run, under gVisor (runsc) or runc.

    sandbox = DockerSandbox("unix:///var/run/docker.sock", "runsc", catalog, warm_pool_size=2)
    await sandbox.start()            # checks engine, OCI runtime and images; fills the warm pool
    result = await sandbox.run(request, on_output=..., cancel=...)
    await sandbox.close()

What a container looks like is in docker_config.py; how code, stdin and environment get in (over the
container's stdin, read by a launcher that is the container's pid 1) is in docker_launcher.py; one
container's attach/start/wait/stop sequence is in docker_container.py. The
host never writes a file the container can write, and nothing is bind-mounted, so a remote engine
works the same. A run is: create (or take a pre-started container from the warm pool), attach
stdout/stderr and stdin, start, send the payload, stream output, wait. Timeout, cancellation and an
output flood send SIGTERM to the launcher (it kills everything in the container and still reports
CPU time and peak memory), SIGKILL after a grace period; an engine that cannot deliver them in
time is bypassed by killing the container's processes on the host (local engines). The container is
removed on every path.

A compiled runtime (Go) builds in its own container with the compile limits; the launcher returns
the artifact in its trailer and the run container receives it like the source.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiodocker
import aiohttp

from voidrunner.contracts.runtimes import RuntimeCatalog, load_catalog
from voidrunner.executor.metrics import COMPILE_STEPS
from voidrunner.executor.sandbox.build import (
    ARTIFACT_ROOT,
    Prepared,
    compile_failure,
    failed_build,
    paths_for,
    unpack_artifact,
    work_files,
)
from voidrunner.executor.sandbox.docker_config import (
    WORKDIR,
    Outcome,
    PoolKey,
    container_config,
    environment,
    interpret,
    pool_key,
)
from voidrunner.executor.sandbox.docker_container import reap_processes, supervise
from voidrunner.executor.sandbox.docker_launcher import PayloadFile, TrailerSplitter, encode_payload
from voidrunner.executor.sandbox.limits import cap_limits
from voidrunner.executor.sandbox.output import OutputCollector
from voidrunner.executor.sandbox.types import (
    CancelToken,
    Limits,
    OnOutput,
    RunRequest,
    RunResult,
    RuntimeInfo,
    RuntimeUnavailable,
    SandboxError,
    StreamName,
    TerminationReason,
    catalog_spec,
)
from voidrunner.executor.sandbox.warm_pool import WarmPool

__all__ = ["DockerSandbox", "EngineFacts", "probe_engine"]

_log = logging.getLogger(__name__)
LABEL_OWNER = "voidrunner.owner"


@dataclass(frozen=True, slots=True)
class EngineFacts:
    """What the engine offers: its version, registered OCI runtimes, and which images it holds."""

    version: str
    oci_runtimes: frozenset[str]
    images: frozenset[str]


async def probe_engine(docker: aiodocker.Docker, images: Iterable[str]) -> EngineFacts:
    """Ask the engine for its version, OCI runtimes and which of `images` are present (no pulls)."""
    version = await docker.version()
    info = await docker.system.info()
    present = set()
    for image in set(images):
        with contextlib.suppress(aiodocker.DockerError):
            await docker.images.inspect(image)
            present.add(image)
    runtimes = frozenset((info.get("Runtimes") or {}).keys())
    return EngineFacts(str(version.get("Version", "")), runtimes, frozenset(present))


class DockerSandbox:
    """`Sandbox` over a Docker engine; see the module docstring."""

    def __init__(
        self,
        docker_host: str,
        runtime: str = "runsc",
        catalog: RuntimeCatalog | None = None,
        *,
        images: Mapping[str, str] | None = None,
        warm_pool: int = 0,
        caps: Limits | None = None,
        owner: str | None = None,
        facts: EngineFacts | None = None,
        kill_grace: float = 1.0,
        compile_output_bytes: int = 256 * 1024,
    ) -> None:
        """`runtime` is the OCI runtime ("runsc" or "runc"); `images` overrides the catalogue's
        image per runtime name; `warm_pool` is how many started containers to keep ready per
        runtime. `owner` labels every container; when given, `start()` removes containers a
        previous process with the same owner left behind (give each executor sharing an engine its
        own). `facts` (from a probe) makes `runtimes()` answer before `start()`."""
        self.name = f"docker-{runtime}"
        self._host = docker_host
        self._runtime = runtime
        self._catalog = catalog if catalog is not None else load_catalog()
        self._images = {spec.name: spec.image for spec in self._catalog}
        self._images.update(images or {})
        self._caps = caps if caps is not None else self._catalog.caps
        self._reap_owner = owner is not None
        self._owner = owner or f"{self.name}-{os.getpid()}-{secrets.token_hex(4)}"
        self._facts = facts
        self._kill_grace = kill_grace
        self._compile_output_bytes = compile_output_bytes
        self._docker: aiodocker.Docker | None = None
        self._started = False
        self._pool: WarmPool[PoolKey] = WarmPool(
            warm_pool, self._make_warm, self._remove, name_prefix=f"vr-warm-{self._owner}"
        )
        self._cleanups: set[asyncio.Task[None]] = set()

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def pool(self) -> WarmPool[PoolKey]:
        return self._pool

    # -- engine ---------------------------------------------------------------------------------

    def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            self._docker = aiodocker.Docker(url=self._host)
        return self._docker

    async def start(self) -> None:
        """Check the engine (raises SandboxError naming what is missing), reap this owner's
        leftovers, and start filling the warm pool for every runtime's default limits."""
        if self._started:
            return
        try:
            self._facts = await probe_engine(self._client(), self._images.values())
        except (aiodocker.DockerError, OSError) as exc:
            raise SandboxError(f"no Docker engine at {self._host}: {exc}", retryable=True) from exc
        if self._runtime not in self._facts.oci_runtimes:
            raise SandboxError(f"OCI runtime {self._runtime!r} is not registered with the engine")
        if self._reap_owner:
            await self._reap_leftovers()
        self._started = True
        for spec in self._catalog:
            if self._images[spec.name] in self._facts.images:
                limits = cap_limits(spec.default_limits, self._caps)
                self._pool.watch(pool_key(self._images[spec.name], limits))
                if spec.compile is not None:
                    compile_limits = cap_limits(spec.compile.limits, self._caps)
                    self._pool.watch(pool_key(self._images[spec.name], compile_limits))

    async def wait_warm(self, seconds: float) -> bool:
        """Wait until the warm pool holds its containers for every runtime (tests, benchmarks:
        a pool still filling opens engine connections while it does)."""
        return await self._pool.wait_all_ready(seconds)

    async def _reap_leftovers(self) -> None:
        filters = json.dumps({"label": [f"{LABEL_OWNER}={self._owner}"]})
        for container in await self._client().containers.list(all=True, filters=filters):
            await self._remove(container.id)

    def runtimes(self) -> list[RuntimeInfo]:
        infos = []
        for spec in self._catalog:
            image = self._images[spec.name]
            if self._facts is None:
                infos.append(RuntimeInfo(spec.name, spec.version, False, "engine not probed yet"))
            elif image not in self._facts.images:
                reason = f"image {image} is not present in the Docker engine"
                infos.append(RuntimeInfo(spec.name, spec.version, False, reason))
            else:
                infos.append(RuntimeInfo(spec.name, spec.version, True))
        return infos

    async def close(self) -> None:
        await self._pool.close()
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    # -- containers -----------------------------------------------------------------------------

    def _config(self, key: PoolKey, run_id: str) -> dict[str, Any]:
        image, memory, cpu, pids, tmp, nofile = key
        limits = Limits(
            memory_bytes=memory, cpu=cpu, pids=pids, tmp_bytes=tmp, max_open_files=nofile
        )
        labels = {LABEL_OWNER: self._owner, "voidrunner.run": run_id}
        return container_config(image, limits, oci_runtime=self._runtime, labels=labels)

    async def _create(self, key: PoolKey, name: str, run_id: str) -> str:
        try:
            container = await self._client().containers.create(self._config(key, run_id), name=name)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise RuntimeUnavailable(f"image {key[0]} is not present: {exc.message}") from exc
            raise SandboxError(f"cannot create a container: {exc.message}", retryable=True) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise SandboxError(f"Docker engine unreachable: {exc}", retryable=True) from exc
        return str(container.id)

    async def _start(self, container_id: str) -> None:
        try:
            await self._client().containers.container(container_id).start()
        except aiodocker.DockerError as exc:
            reap_processes(self._host, container_id)
            raise SandboxError(
                f"cannot start the container: {exc.message}", retryable=True
            ) from exc

    async def _make_warm(self, key: PoolKey, name: str) -> str:
        container_id = await self._create(key, name, "warm")
        try:
            await self._start(container_id)
        except BaseException:
            await self._remove(container_id)
            raise
        return container_id

    async def _remove(self, container_id: str) -> None:
        """Remove (and kill) a container in a task of its own: a second cancel cannot stop it."""
        await asyncio.shield(self._remove_soon(container_id))

    def _remove_soon(self, container_id: str, *, reap: bool = False) -> asyncio.Task[None]:
        """Start removing a container (then reap its host processes if `reap`); close() awaits
        removals still running."""
        task = asyncio.create_task(self._remove_now(container_id, reap))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return task

    async def _remove_now(self, container_id: str, reap: bool = False) -> None:
        try:
            await self._client().containers.container(container_id).delete(force=True, v=True)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                _log.warning("cannot remove container %s: %s", container_id[:12], exc.message)
                reap = True
        except (aiohttp.ClientError, OSError) as exc:
            _log.warning("cannot remove container %s: %s", container_id[:12], exc)
        if reap:
            reap_processes(self._host, container_id)

    # -- running --------------------------------------------------------------------------------

    async def run(
        self,
        request: RunRequest,
        *,
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        prepared = await self.prepare(request, cancel=cancel)
        if prepared.failed is not None:
            return prepared.failed
        return await self.execute(
            prepared, stdin=request.stdin, args=request.args, on_output=on_output, cancel=cancel
        )

    async def prepare(self, request: RunRequest, *, cancel: CancelToken | None = None) -> Prepared:
        spec = catalog_spec(self._catalog, request.runtime)
        image = self._images[spec.name]
        await self.start()
        assert self._facts is not None
        if image not in self._facts.images:
            raise RuntimeUnavailable(
                f"runtime {spec.name!r} is unavailable: image {image} is not present in the engine"
            )
        files, entry = work_files(request, spec)
        artifact = f"{ARTIFACT_ROOT}/{spec.compile.artifact}" if spec.compile else ""
        prepared = Prepared(
            request=request,
            spec=spec,
            limits=cap_limits(request.limits, self._caps),
            env=environment(spec.environment(workdir=WORKDIR), request.env),
            files=files,
            paths=paths_for(spec, files, entry, WORKDIR, artifact),
            extra={"image": image, "run_id": re.sub(r"[^A-Za-z0-9_.-]", "", request.run_id)[:64]},
        )
        if cancel is not None and cancel.is_set():
            prepared.failed = _result(
                OutputCollector(0),
                Outcome(TerminationReason.CANCELLED, None, 0, 0, signal="SIGKILL"),
                time.monotonic(),
            )
        elif spec.compile is not None:
            await self._compile(prepared, cancel)
        return prepared

    async def _compile(self, prepared: Prepared, cancel: CancelToken | None) -> None:
        """The compile step in its own container, with the runtime's (operator's) limits."""
        spec = prepared.spec
        assert spec.compile is not None
        limits = cap_limits(spec.compile.limits, self._caps)
        out = f"{WORKDIR}/{spec.compile.artifact}"
        # The compiler's stdout and stderr as one text, in order.
        argv = ["/bin/sh", "-c", 'exec 2>&1; exec "$@"', "sh"]
        argv += spec.compile.argv(replace(prepared.paths, artifact=out).within(limits))
        output = OutputCollector(self._compile_output_bytes, enforce=False)
        started = time.monotonic()
        COMPILE_STEPS.labels(self.name, spec.name).inc()
        step, artifact = await self._step(
            prepared, limits, argv, _payload(prepared), b"", output, cancel, out
        )
        prepared.compile_output = output.stdout + output.stderr
        prepared.compile_time_ms = int((time.monotonic() - started) * 1000)
        reason, detail = step.reason, step.detail
        if reason is TerminationReason.EXIT and step.return_code == 0:
            try:
                prepared.artifact = unpack_artifact(artifact, max_bytes=limits.tmp_bytes)
                return
            except SandboxError as exc:
                reason, detail = TerminationReason.SANDBOX_ERROR, str(exc)
        reason, detail = compile_failure(reason, step.return_code, step.signal, detail, limits)
        prepared.failed = failed_build(
            reason, detail, prepared.compile_output, prepared.compile_time_ms
        )

    async def execute(
        self,
        prepared: Prepared,
        *,
        stdin: bytes,
        args: Sequence[str],
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        run_limits = cap_limits(limits, self._caps) if limits is not None else prepared.limits
        collector = OutputCollector(run_limits.max_output_bytes, on_output)
        files = _payload(prepared) + [
            PayloadFile(f"{ARTIFACT_ROOT}/{a.path}", a.data, 0o555 if a.executable else 0o444)
            for a in prepared.artifact
        ]
        paths = prepared.paths.within(run_limits)
        argv = [*prepared.spec.run_argv(paths), *args]
        started = time.monotonic()
        step, _ = await self._step(prepared, run_limits, argv, files, stdin, collector, cancel)
        return prepared.finish(_result(collector, step, started))

    async def _step(
        self,
        prepared: Prepared,
        limits: Limits,
        argv: list[str],
        files: list[PayloadFile],
        stdin: bytes,
        collector: OutputCollector,
        cancel: CancelToken | None,
        artifact: str = "",
    ) -> tuple[Outcome, bytes]:
        """One container from creation (or the warm pool) to removal."""
        image, run_id = str(prepared.extra["image"]), str(prepared.extra["run_id"])
        key = pool_key(image, limits)
        nonce = secrets.token_hex(16)
        max_artifact = limits.tmp_bytes if artifact else 0
        payload = encode_payload(
            nonce=nonce,
            argv=argv,
            env=prepared.env,
            files=files,
            cwd=WORKDIR,
            artifact=artifact,
            max_artifact=max_artifact,
            stdin=stdin,
        )
        splitter = TrailerSplitter(nonce, max_artifact)
        container_id = self._pool.take(key)
        warm = container_id is not None
        if container_id is None:
            name = f"vr-run-{self._owner}-{secrets.token_hex(6)}"
            container_id = await self._create(key, name, run_id or "run")
        finished = False
        try:
            stop, state = await supervise(
                self._client(),
                container_id,
                started=warm,
                payload=payload,
                splitter=splitter,
                collector=collector,
                timeout_seconds=limits.timeout_seconds,
                cancel=cancel,
                kill_grace=self._kill_grace,
                reap=functools.partial(reap_processes, self._host, container_id),
            )
            finished = True
        except aiodocker.DockerError as exc:
            if exc.status == 500 and not warm:
                reap_processes(self._host, container_id)  # a failed runsc start leaves some
            raise SandboxError(f"engine error: {exc.message}", retryable=True) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise SandboxError(f"lost the Docker engine: {exc}", retryable=True) from exc
        finally:
            if not finished:
                await self._remove(container_id)
        had_output = any(collector.bytes_seen(s) for s in StreamName)
        trailer = splitter.trailer()
        outcome = interpret(
            stop,
            state,
            trailer,
            oci_runtime=self._runtime,
            limits=limits,
            had_output=had_output,
        )
        # The container has ended and been inspected: the result need not wait for its removal
        # (35-55 ms of a 240 ms gVisor run here). A failed run's leftover processes are reaped
        # once it is removed, as before.
        self._remove_soon(container_id, reap=outcome.reason is TerminationReason.SANDBOX_ERROR)
        return outcome, trailer.artifact if trailer else b""


def _payload(prepared: Prepared) -> list[PayloadFile]:
    """The run's work files, as the launcher creates them (writable, in the work dir)."""
    return [PayloadFile(f"{WORKDIR}/{f.path}", f.data, 0o644) for f in prepared.files]


def _result(collector: OutputCollector, outcome: Outcome, started: float) -> RunResult:
    return RunResult(
        termination_reason=outcome.reason,
        return_code=outcome.return_code,
        stdout=collector.stdout,
        stderr=collector.stderr,
        stdout_truncated=collector.stdout_truncated,
        stderr_truncated=collector.stderr_truncated,
        execution_time_ms=max(
            1,
            outcome.wall_time_ns // 1_000_000
            if outcome.wall_time_ns
            else int((time.monotonic() - started) * 1000),
        ),
        cpu_time_ms=outcome.cpu_time_ns // 1_000_000,
        memory_usage_bytes=outcome.peak_memory_bytes,
        termination_detail=outcome.detail,
        exit_signal=outcome.signal,
    )
