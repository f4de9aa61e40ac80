// Test cases as the editor holds them, and as the API takes them (`test_cases` on a task or a
// one-shot run). Input and expected output are text; a stored case whose bytes are not text
// comes back as base64 and is edited, and sent back, as base64. A case may have arguments of
// its own, which replace the run's (none of its own: it runs with the run's arguments).

import type { Compare, Execution, TestCase } from "./types";

export interface CaseDraft {
  id: number;
  name: string;
  stdin: string;
  expected: string;
  compare: Compare;
  hidden: boolean;
  stdinIsBase64: boolean;
  expectedIsBase64: boolean;
  /** Off: the case runs with the run's arguments; on: with `args` (maybe none at all). */
  ownArgs: boolean;
  /** One argument per line, as the run's arguments are written. */
  args: string;
}

/** Arguments written one per line, so spaces and quotes inside one need no escaping. */
export function argLines(text: string): string[] {
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

export const COMPARES: { value: Compare; label: string }[] = [
  { value: "trim_trailing_whitespace", label: "Ignore trailing whitespace" },
  { value: "exact", label: "Exact" },
  { value: "ignore_whitespace", label: "Ignore all whitespace" },
];

let nextId = 1;

export function newCase(taken: readonly CaseDraft[]): CaseDraft {
  const names = new Set(taken.map((c) => c.name));
  let n = taken.length + 1;
  while (names.has(`case ${n}`)) n++;
  return {
    id: nextId++,
    name: `case ${n}`,
    stdin: "",
    expected: "",
    compare: "trim_trailing_whitespace",
    hidden: false,
    stdinIsBase64: false,
    expectedIsBase64: false,
    ownArgs: false,
    args: "",
  };
}

export function fromTestCases(cases: readonly TestCase[] | undefined): CaseDraft[] {
  return (cases ?? []).map((c) => ({
    id: nextId++,
    name: c.name,
    stdin: c.stdin_base64 ?? c.stdin ?? "",
    expected: c.expected_stdout_base64 ?? c.expected_stdout ?? "",
    compare: c.compare ?? "trim_trailing_whitespace",
    hidden: c.hidden ?? false,
    stdinIsBase64: c.stdin_base64 !== undefined,
    expectedIsBase64: c.expected_stdout_base64 !== undefined,
    ownArgs: c.args !== undefined,
    args: (c.args ?? []).join("\n"),
  }));
}

export function toTestCases(drafts: readonly CaseDraft[]): TestCase[] {
  return drafts.map((d) => ({
    name: d.name,
    ...(d.stdinIsBase64 ? { stdin_base64: d.stdin } : { stdin: d.stdin }),
    ...(d.expectedIsBase64 ? { expected_stdout_base64: d.expected } : { expected_stdout: d.expected }),
    ...(d.ownArgs ? { args: argLines(d.args) } : {}),
    compare: d.compare,
    hidden: d.hidden,
  }));
}

/** The test cases of a run that the editor could not bring back. */
export interface UnrestoredCases {
  total: number;
  /** The names of the cases that are not hidden (none while results are not recorded). */
  names: string[];
  hidden: number;
}

/**
 * A one-shot run's cases, as far as its resource tells them. The execution carries each case's
 * result (name, verdict, output) but no case's input, arguments, expected output or comparison,
 * so none of them can be rebuilt into a case to run again; the editor says so rather than
 * guessing. Null when the run had no cases, or has none recorded yet.
 */
export function unrestoredCases(execution: Execution): UnrestoredCases | null {
  const results = execution.cases ?? [];
  const total = Math.max(results.length, execution.total ?? 0);
  if (total === 0) return null;
  return {
    total,
    names: results.filter((c) => !c.hidden).map((c) => c.name),
    hidden: results.filter((c) => c.hidden).length,
  };
}

/** What the editor says about them, e.g. 'Not restored: the run's 3 test cases ("a", "b" and 1 hidden). …' */
export function unrestoredNote(lost: UnrestoredCases): string {
  const parts = lost.names.map((n) => JSON.stringify(n));
  if (lost.hidden) parts.push(`${lost.hidden} hidden`);
  const listed = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}` : (parts[0] ?? "");
  const cases = lost.total === 1 ? "test case" : `${lost.total} test cases`;
  return (
    `Not restored: the run's ${cases}${listed ? ` (${listed})` : ""}. A run's record keeps their results, ` +
    "not their input or expected output; add them again under Test cases to judge the program."
  );
}
