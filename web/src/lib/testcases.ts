// Test cases as the editor holds them, and as the API takes them (`test_cases` on a task or a
// one-shot run). Input and expected output are text; a stored case whose bytes are not text
// comes back as base64 and is edited, and sent back, as base64.

import type { Compare, TestCase } from "./types";

export interface CaseDraft {
  id: number;
  name: string;
  stdin: string;
  expected: string;
  compare: Compare;
  hidden: boolean;
  stdinIsBase64: boolean;
  expectedIsBase64: boolean;
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
  }));
}

export function toTestCases(drafts: readonly CaseDraft[]): TestCase[] {
  return drafts.map((d) => ({
    name: d.name,
    ...(d.stdinIsBase64 ? { stdin_base64: d.stdin } : { stdin: d.stdin }),
    ...(d.expectedIsBase64 ? { expected_stdout_base64: d.expected } : { expected_stdout: d.expected }),
    compare: d.compare,
    hidden: d.hidden,
  }));
}
