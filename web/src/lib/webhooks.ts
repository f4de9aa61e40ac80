// How webhooks read in the UI: their events, their state and why the sender stopped one.

import type { DeliveryAttempt, EventType, Webhook } from "./types";

export const EVENT_HINTS: Record<EventType, string> = {
  "execution.started": "started: a run began",
  "execution.completed": "completed: a run exited 0",
  "execution.failed": "failed: a run exited non-zero",
  "execution.timeout": "timeout: a run hit its time limit",
  "execution.cancelled": "cancelled: a run was cancelled",
};

const REASONS: Record<NonNullable<Webhook["disabled_reason"]>, string> = {
  gone: "the receiver answered 410 Gone",
  failing: "every attempt failed for days",
};

/** "Enabled", "Disabled", or "Disabled: <why the sender stopped it>". */
export function stateOf(webhook: Webhook): string {
  if (webhook.enabled) return "Enabled";
  return webhook.disabled_reason ? `Disabled: ${REASONS[webhook.disabled_reason]}` : "Disabled";
}

/** "every event", or the short names of the chosen ones. */
export function eventsOf(webhook: Webhook): string {
  if (webhook.events.length === 0 || webhook.events.length === Object.keys(EVENT_HINTS).length) {
    return "every event";
  }
  return webhook.events.map((e) => e.replace(/^execution\./, "")).join(", ");
}

/** What an attempt got back: the status code, or the error when no answer came. */
export function answerOf(attempt: DeliveryAttempt): string {
  if (attempt.status_code !== undefined) {
    return attempt.error ? `HTTP ${attempt.status_code}: ${attempt.error}` : `HTTP ${attempt.status_code}`;
  }
  return attempt.error ?? "no answer";
}
