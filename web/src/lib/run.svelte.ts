// Following one execution: its phase (queued, running, final), its output as it arrives, its
// test cases' verdicts as each ends, and the final resource (times, memory, compile output,
// every case's output) once the log's `end` event came.

import { getExecution } from "./api";
import { followLog } from "./logstream";
import { OutputView } from "./output.svelte";
import { FINAL_STATUSES, type CaseResult, type Execution, type LogCaseEnd, type Verdict } from "./types";

export type Phase = "idle" | "saving" | "queued" | "running" | "final";

/** A test case as the live log tells it: started, then ended with a verdict. */
export interface CaseProgress {
  index: number;
  name: string;
  verdict?: Verdict;
  execution_time_ms?: number;
  cpu_time_ms?: number;
  memory_usage_bytes?: number;
  return_code?: number;
  exit_signal?: string;
}

/** The cases to show: the final resource's when it has them, else what the log told so far. */
export function caseRows(execution: Execution | null, live: CaseProgress[]): (CaseResult | CaseProgress)[] {
  return execution?.cases?.length ? execution.cases : live;
}

// While a run is queued and silent, look at its status at these moments (ms after the start):
// few calls, since execution reads count against the user's rate limit.
const QUEUE_CHECKS = [1000, 2000, 4000, 8000, 15000];

export class RunWatch {
  phase = $state<Phase>("idle");
  execution = $state<Execution | null>(null);
  reconnecting = $state(false);
  error = $state<unknown>(null);
  cases = $state<CaseProgress[]>([]);
  readonly output = new OutputView();
  private abort: AbortController | null = null;

  /** Show `execution`'s output: live while it runs, replayed from the log once it finished. */
  async follow(execution: Execution): Promise<void> {
    this.stop();
    const control = new AbortController();
    this.abort = control;
    this.output.clear();
    this.cases = [];
    this.error = null;
    this.reconnecting = false;
    this.execution = execution;
    const finished = FINAL_STATUSES.has(execution.status);
    this.phase = finished ? "final" : execution.status === "pending" ? "queued" : "running";
    if (this.phase === "queued") void this.watchQueue(execution.id, control.signal);
    try {
      await followLog(
        execution.id,
        {
          onAttempt: () => {
            this.output.clear();
            this.cases = [];
          },
          onCaseStart: (start) => {
            if (this.phase === "queued") this.phase = "running";
            this.output.mark(`── case ${start.case}: ${start.name} ──`);
            this.cases = [...this.cases.filter((c) => c.index !== start.case), { index: start.case, name: start.name }];
          },
          onCaseEnd: (end) => this.caseEnded(end),
          onChunk: (chunk) => {
            if (this.phase === "queued") this.phase = "running";
            this.reconnecting = false;
            this.output.append(chunk.stream, chunk.text);
          },
          onEnd: () => {
            this.reconnecting = false;
          },
          onReconnecting: () => {
            this.reconnecting = true;
          },
        },
        control.signal,
      );
      if (control.signal.aborted) return;
      if (!finished) this.execution = await getExecution(execution.id);
      this.phase = "final";
    } catch (error) {
      if (!control.signal.aborted) this.error = error;
    }
  }

  stop(): void {
    this.abort?.abort();
    this.abort = null;
  }

  reset(): void {
    this.stop();
    this.output.clear();
    this.cases = [];
    this.execution = null;
    this.error = null;
    this.phase = "idle";
  }

  private caseEnded(end: LogCaseEnd): void {
    const started = this.cases.find((c) => c.index === end.case);
    const ended: CaseProgress = {
      index: end.case,
      name: started?.name ?? `case ${end.case}`,
      verdict: end.verdict,
      execution_time_ms: end.execution_time_ms,
      cpu_time_ms: end.cpu_time_ms,
      memory_usage_bytes: end.memory_usage_bytes,
      ...(end.return_code !== undefined ? { return_code: end.return_code } : {}),
      ...(end.exit_signal !== undefined ? { exit_signal: end.exit_signal } : {}),
    };
    this.cases = [...this.cases.filter((c) => c.index !== end.case), ended].sort((a, b) => a.index - b.index);
  }

  private async watchQueue(id: string, signal: AbortSignal): Promise<void> {
    let waited = 0;
    for (const at of QUEUE_CHECKS) {
      await new Promise((resolve) => setTimeout(resolve, at - waited));
      waited = at;
      if (signal.aborted || this.phase !== "queued") return;
      try {
        const now = await getExecution(id);
        if (this.phase === "queued" && now.status === "running") this.phase = "running";
      } catch {
        return; // the log stream reports what went wrong
      }
    }
  }
}
