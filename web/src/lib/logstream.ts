// Following an execution's log stream (GET /api/v1/executions/{id}/logs, Server-Sent Events)
// with fetch: EventSource can send neither Authorization nor our own Last-Event-ID.
//
// Every event has the id "<attempt>:<seq>". When the connection drops before the `end` event,
// the reader reconnects with Last-Event-ID set to the last id it saw and the server resumes
// right after it; chunks already seen are also skipped here, so nothing shows twice. A chunk of
// a newer attempt (the run was redelivered to another executor) starts the output afresh.
// With test cases, `case_start` and `case_end` events frame each case's output.

import { createParser, type EventSourceMessage } from "eventsource-parser";
import { authorizedFetch, logsUrl } from "./api";
import { errorFrom } from "./errors";
import type { LogCaseEnd, LogCaseStart, LogChunk, LogEnd } from "./types";

export interface LogHandlers {
  /** A new attempt began: drop what the previous one printed. */
  onAttempt(attempt: number): void;
  onChunk(chunk: LogChunk): void;
  onEnd(end: LogEnd): void;
  /** A test case began (its output follows) or ended (its verdict). */
  onCaseStart?(start: LogCaseStart): void;
  onCaseEnd?(end: LogCaseEnd): void;
  /** The stream dropped and is being reopened (for a "reconnecting" hint). */
  onReconnecting?(): void;
}

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

/** Follow the log until its `end` event (resolves) or `signal` aborts; throws API errors. */
export async function followLog(
  executionId: string,
  handlers: LogHandlers,
  signal: AbortSignal,
): Promise<void> {
  let lastId: string | null = null;
  let attempt = 0;
  let seq = 0;
  let ended = false;
  let delay = FIRST_DELAY_MS;

  const onEvent = (message: EventSourceMessage): void => {
    if (message.id) lastId = message.id;
    if (message.event === "end") {
      ended = true;
      handlers.onEnd(JSON.parse(message.data) as LogEnd);
      return;
    }
    const known = ["stdout", "stderr", "case_start", "case_end"];
    if (!known.includes(message.event ?? "")) return;
    // Output chunks and test cases' marks share one sequence per attempt.
    const event = JSON.parse(message.data) as { attempt: number; seq: number };
    if (event.attempt < attempt || (event.attempt === attempt && event.seq <= seq)) return;
    if (event.attempt > attempt) {
      if (attempt !== 0) handlers.onAttempt(event.attempt);
      attempt = event.attempt;
    }
    seq = event.seq;
    if (message.event === "case_start") handlers.onCaseStart?.(event as LogCaseStart);
    else if (message.event === "case_end") handlers.onCaseEnd?.(event as LogCaseEnd);
    else handlers.onChunk(event as LogChunk);
  };

  while (!signal.aborted) {
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    try {
      const resp = await authorizedFetch(logsUrl(executionId), { headers, signal });
      if (!resp.ok) {
        const error = await errorFrom(resp);
        // Retry what may pass (overload, a restarting gateway); give up on the rest.
        if (resp.status !== 429 && resp.status < 500) throw error;
      } else if (resp.body) {
        delay = FIRST_DELAY_MS;
        const parser = createParser({ onEvent });
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parser.feed(value);
            if (ended) return;
          }
        } finally {
          reader.releaseLock();
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (!(error instanceof TypeError) && !isRetryable(error)) throw error;
    }
    if (ended || signal.aborted) return;
    handlers.onReconnecting?.();
    await sleep(delay, signal);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

function isRetryable(error: unknown): boolean {
  // A dropped connection mid-body surfaces as a TypeError or a network ApiError (status 0).
  return (
    typeof error === "object" &&
    error !== null &&
    "status" in error &&
    ((error as { status: number }).status === 0 ||
      (error as { status: number }).status === 429 ||
      (error as { status: number }).status >= 500)
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
