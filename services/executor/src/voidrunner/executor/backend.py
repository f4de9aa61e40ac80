"""Choosing and building the sandbox backend from settings."""

from __future__ import annotations

from voidrunner.executor.sandbox.runtimes import RuntimeCatalog, load_catalog
from voidrunner.executor.sandbox.types import Limits, Sandbox
from voidrunner.executor.settings import ExecutorSettings

MIB = 1024 * 1024


def operator_caps(settings: ExecutorSettings) -> Limits:
    """The caps every job's limits are lowered to."""
    return Limits(
        timeout_seconds=settings.cap_timeout_seconds,
        memory_bytes=settings.cap_memory_mb * MIB,
        cpu=settings.cap_cpu,
        max_output_bytes=settings.cap_max_output_bytes,
        pids=settings.cap_pids,
        tmp_bytes=settings.cap_tmp_mb * MIB,
        max_open_files=1024,
    )


def load_runtimes(settings: ExecutorSettings) -> RuntimeCatalog:
    """The bundled runtime catalogue with the operator's override merged over it."""
    return load_catalog(settings.runtimes_file)


def build_sandbox(settings: ExecutorSettings, catalog: RuntimeCatalog) -> Sandbox:
    """The configured backend: bubblewrap on the host, or Docker (runsc by default)."""
    caps = operator_caps(settings)
    if settings.sandbox_backend == "docker":
        from voidrunner.executor.sandbox.docker import DockerSandbox

        return DockerSandbox(  # type: ignore[no-any-return,unused-ignore]
            docker_host=settings.docker_host,
            runtime=settings.docker_runtime,
            catalog=catalog,
            caps=caps,
            warm_pool=settings.docker_warm_pool,
            owner=settings.docker_owner,
        )
    from voidrunner.executor.sandbox.bwrap import BwrapSandbox

    return BwrapSandbox(catalog, caps=caps)
