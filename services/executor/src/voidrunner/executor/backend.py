"""Choosing and building the sandbox backend from settings."""

from __future__ import annotations

from voidrunner.contracts.runtimes import RuntimeCatalog, load_catalog
from voidrunner.executor.sandbox.types import Sandbox, SandboxError
from voidrunner.executor.settings import ExecutorSettings


def load_runtimes(settings: ExecutorSettings) -> RuntimeCatalog:
    """The bundled runtime catalogue with the operator's override merged over it (the same
    file the tasks service reads: one source of defaults and caps)."""
    return load_catalog(settings.runtimes_file)


def build_sandbox(settings: ExecutorSettings, catalog: RuntimeCatalog) -> Sandbox:
    """The configured backend: bubblewrap on the host, or Docker (runsc by default)."""
    if settings.sandbox_backend == "docker":
        from voidrunner.executor.sandbox.docker import DockerSandbox

        return DockerSandbox(  # type: ignore[no-any-return,unused-ignore]
            docker_host=settings.docker_host,
            runtime=settings.docker_runtime,
            catalog=catalog,
            warm_pool=settings.docker_warm_pool,
            owner=settings.docker_owner,
            compile_output_bytes=settings.compile_output_bytes,
        )
    from voidrunner.executor.sandbox.bwrap import BwrapSandbox, warm_uids
    from voidrunner.executor.sandbox.uid_range import UidRange

    warm = warm_uids(catalog, settings.sandbox_warm_pool)
    try:
        uids = UidRange(settings.sandbox_uid_base, settings.executor_slots + warm)
    except ValueError as exc:
        raise SandboxError(f"VOIDRUNNER_SANDBOX_UID_BASE: {exc}") from exc
    return BwrapSandbox(
        catalog,
        uids=uids,
        launcher=settings.sandbox_launcher,
        compile_output_bytes=settings.compile_output_bytes,
        warm_pool=settings.sandbox_warm_pool,
    )
