"""pytest plugin: the hardening summary table (registered from the root conftest.py).

Tests marked `hardening` are counted per suite and the session ends with a table:

    suite                       cases  contained  escaped  lost  doubled  5xx
    executor/abuse [bwrap]         44         44        0     0        0    0

- suite: the test's folder without the `services/` and `tests/` parts (`executor/abuse`,
  `hardening`), or `@pytest.mark.hardening(suite="...")`; `group_by="backend"` appends that
  parameter's value, so a parametrized suite gets one row per backend;
- cases / contained / escaped: one case per test (passed = contained, failed or errored =
  escaped), unless the test counts its own through the `hardening_counters` fixture:
  `add_cases(n)`, `add_contained(n)`; then escaped = cases - contained (at least 1 on failure);
- lost / doubled / 5xx: only what tests add (`add_lost`, `add_doubled`, `add_5xx`).

Counters travel in the reports' `user_properties`, so the table is right under xdist too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import PurePath

import pytest

__all__ = ["HardeningCounters", "hardening_counters"]

_PROPERTY = "hardening"
_SUITE = "hardening_suite"


@dataclass
class HardeningCounters:
    """What one test adds to its suite's row (see the module docstring)."""

    cases: int = 0
    contained: int = 0
    lost: int = 0
    doubled: int = 0
    server_errors: int = 0
    counted_cases: bool = False
    counted_contained: bool = False

    def add_cases(self, n: int = 1) -> None:
        self.cases += n
        self.counted_cases = True

    def add_contained(self, n: int = 1) -> None:
        self.contained += n
        self.counted_contained = True

    def add_lost(self, n: int = 1) -> None:
        self.lost += n

    def add_doubled(self, n: int = 1) -> None:
        self.doubled += n

    def add_5xx(self, n: int = 1) -> None:
        self.server_errors += n


@pytest.fixture
def hardening_counters(request: pytest.FixtureRequest) -> Iterator[HardeningCounters]:
    """Counters this test adds to the hardening table (lost, doubled, 5xx, its own cases)."""
    counters = HardeningCounters()
    yield counters
    request.node.user_properties.append((_PROPERTY, asdict(counters)))


def _suite_of(item: pytest.Item, mark: pytest.Mark) -> str:
    suite = mark.kwargs.get("suite")
    if not suite:
        parts = PurePath(item.nodeid.split("::")[0]).parent.parts
        suite = "/".join(p for p in parts if p not in ("services", "tests")) or "."
    group_by = mark.kwargs.get("group_by")
    callspec = getattr(item, "callspec", None)
    if group_by and callspec is not None and group_by in callspec.params:
        suite += f" [{callspec.params[group_by]}]"
    return str(suite)


@dataclass
class _Row:
    cases: int = 0
    contained: int = 0
    escaped: int = 0
    lost: int = 0
    doubled: int = 0
    server_errors: int = 0


@dataclass
class _Test:
    suite: str
    failed: bool = False
    passed: bool = False
    counters: HardeningCounters | None = None


def _values(row: _Row) -> tuple[int, ...]:
    return (row.cases, row.contained, row.escaped, row.lost, row.doubled, row.server_errors)


class _Report:
    def __init__(self) -> None:
        self.tests: dict[str, _Test] = {}

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            mark = item.get_closest_marker("hardening")
            if mark is not None:
                item.user_properties.append((_SUITE, _suite_of(item, mark)))

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        suite = props.get(_SUITE)
        if suite is None:
            return
        test = self.tests.setdefault(report.nodeid, _Test(str(suite)))
        if report.failed:
            test.failed = True
        elif report.when == "call" and report.passed:
            test.passed = True
        raw = props.get(_PROPERTY)
        if report.when == "teardown" and isinstance(raw, dict):
            names = {f.name for f in fields(HardeningCounters)}
            test.counters = HardeningCounters(**{k: v for k, v in raw.items() if k in names})

    def rows(self) -> dict[str, _Row]:
        rows: dict[str, _Row] = {}
        for test in self.tests.values():
            if not (test.passed or test.failed):
                continue  # skipped or deselected: not run
            row = rows.setdefault(test.suite, _Row())
            counters = test.counters or HardeningCounters()
            cases = counters.cases if counters.counted_cases else 1
            if counters.counted_contained:
                contained = min(counters.contained, cases)
            else:
                contained = cases if not test.failed else 0
            escaped = cases - contained
            if test.failed:
                escaped = max(escaped, 1)
            row.cases += cases
            row.contained += contained
            row.escaped += escaped
            row.lost += counters.lost
            row.doubled += counters.doubled
            row.server_errors += counters.server_errors
        return rows

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        rows = self.rows()
        if not rows:
            return
        terminalreporter.section("hardening")
        width = max(len("suite"), *(len(name) for name in rows))
        header = ("cases", "contained", "escaped", "lost", "doubled", "5xx")
        terminalreporter.write_line(f"{'suite':<{width}}  " + "  ".join(f"{h:>9}" for h in header))
        total = _Row()
        for name in sorted(rows):
            row = rows[name]
            values = _values(row)
            terminalreporter.write_line(f"{name:<{width}}  " + "  ".join(f"{v:>9}" for v in values))
            for f in fields(_Row):
                setattr(total, f.name, getattr(total, f.name) + getattr(row, f.name))
        if len(rows) > 1:
            values = _values(total)
            terminalreporter.write_line(
                f"{'total':<{width}}  " + "  ".join(f"{v:>9}" for v in values)
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Report(), "voidrunner-hardening-report")
