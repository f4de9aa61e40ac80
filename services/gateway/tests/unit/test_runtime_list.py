"""GET /runtimes' merge of the tasks service's catalogue with the executors' adverts, and the
script_types the gateway lets through (names, languages and aliases)."""

from __future__ import annotations

from voidrunner.gateway.policy import RuntimePolicy
from voidrunner.gateway.routes.runtimes import merge_runtimes
from voidrunner.proto.tasks.v1 import tasks_pb2


def _policy(name: str, language: str, *aliases: str) -> tasks_pb2.RuntimePolicy:
    return tasks_pb2.RuntimePolicy(name=name, language=language, version="1", aliases=aliases)


POLICIES = [_policy("cpp", "cpp", "c++", "cxx"), _policy("pypy", "python", "pypy3")]


def test_an_unavailable_runtime_says_why_and_lists_its_aliases() -> None:
    reason = "not installed on this host: g++ (install the Debian package g++: make runtimes)"
    entries = [
        {"name": "cpp", "available": False, "reason": reason},
        {"name": "pypy", "available": True, "version": "3.9.16", "reason": ""},
    ]
    cpp, pypy = merge_runtimes(POLICIES, entries)
    assert (cpp.available, cpp.reason, cpp.aliases) == (False, reason, ["c++", "cxx"])
    assert (pypy.available, pypy.reason, pypy.version) == (True, None, "3.9.16")
    # Offered by no live executor at all.
    (nobody, _) = merge_runtimes(POLICIES, [])
    assert nobody.reason == "no live executor offers it"


def test_the_gateway_accepts_every_name_of_a_runtime() -> None:
    msg = tasks_pb2.ListRuntimesResponse(runtimes=POLICIES)
    assert RuntimePolicy.from_message(msg).runtimes == (
        "c++",
        "cpp",
        "cxx",
        "pypy",
        "pypy3",
        "python",
    )
