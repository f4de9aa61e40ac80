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

/**
 * A one-shot run's test cases, as its resource gives them back (`run.test_cases`): the ones
 * that are not hidden, to edit and run again, and how many hidden ones could not come back
 * (the API never shows a hidden case's input or expected output, to anyone).
 */
export function runCases(execution: Execution): { drafts: CaseDraft[]; hidden: number } {
  const given = execution.run?.test_cases ?? [];
  return {
    drafts: fromTestCases(given.filter((c) => !c.hidden)),
    hidden: given.filter((c) => c.hidden).length,
  };
}

/** What the editor says of the hidden cases it left out, e.g. "1 hidden test case was not restored: …". */
export function hiddenNote(hidden: number): string {
  return hidden === 1
    ? "1 hidden test case was not restored: its input is never shown."
    : `${hidden} hidden test cases were not restored: their input is never shown.`;
}
