"""Test support for the sandbox suites (conformance, abuse), shipped with no executor package.

    conformance   Backend (a sandbox with its leftovers probe), run(), processes_with()
    abuse         Abuse.run() with the host canaries, listeners and zombie checks
    docker_probe  a blocking look at a Docker engine, and the docker backends of the registry

On the test path through `pythonpath` in the workspace's pytest settings (and mypy's path).
"""
