// The REST API client: one `request` that sends the access token, refreshes it once on a 401
// and turns error bodies into ApiError; one small function per operation. Pages of later
// features (API keys, webhooks, shares, ops) add theirs here.

import { ApiError, errorFrom } from "./errors";
import { expire, refreshAfter, token } from "./session.svelte";
import type {
  AdminStats,
  ApiKeyFields,
  ApiKeyList,
  CreatedApiKey,
  CreatedWebhook,
  Delivery,
  DeliveryList,
  Execution,
  ExecutionList,
  ExecutorList,
  RunFields,
  Runtime,
  SecretInfo,
  Share,
  ShareList,
  ShareRole,
  SigningSecret,
  Task,
  TaskFields,
  TaskList,
  Webhook,
  WebhookFields,
  WebhookList,
} from "./types";

const API = "/api/v1";

type Query = Record<string, string | number | undefined | null>;

interface Options {
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return `${API}${path}${search ? `?${search}` : ""}`;
}

/**
 * fetch with the access token; on a 401, one refresh (serialized across tabs) and one retry.
 * A session that cannot be refreshed has ended: the app goes back to sign-in.
 */
export async function authorizedFetch(input: string, init: RequestInit = {}): Promise<Response> {
  for (let tries = 0; ; tries++) {
    const sent = token();
    const headers = new Headers(init.headers);
    if (sent) headers.set("Authorization", `Bearer ${sent}`);
    let resp: Response;
    try {
      resp = await fetch(input, { ...init, headers, credentials: "same-origin" });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ApiError(0, { error: "Cannot reach VoidRunner. Check your connection." });
    }
    if (resp.status !== 401 || tries > 0) return resp;
    let renewed: boolean;
    try {
      renewed = await refreshAfter(sent);
    } catch {
      renewed = false;
    }
    if (!renewed) {
      expire();
      return resp;
    }
  }
}

async function request<T>(method: string, path: string, options: Options = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  if (options.signal) init.signal = options.signal;
  const resp = await authorizedFetch(url(path, options.query), init);
  if (!resp.ok) throw await errorFrom(resp);
  return (await resp.json()) as T;
}

export function runtimes(): Promise<Runtime[]> {
  return request<{ runtimes: Runtime[] }>("GET", "/runtimes").then((body) => body.runtimes);
}

export interface TaskQuery {
  /** "with_me": the tasks others shared with the caller instead of the caller's own. */
  shared?: "with_me";
  q?: string;
  status?: string;
  script_type?: string;
  metadata?: string;
  sort_field?: string;
  sort_order?: string;
  cursor?: string;
  limit?: number;
}

export function listTasks(query: TaskQuery): Promise<TaskList> {
  return request("GET", "/tasks", { query: { limit: 20, ...query } });
}

export function getTask(id: string): Promise<Task> {
  return request("GET", `/tasks/${encodeURIComponent(id)}`);
}

export function createTask(fields: TaskFields): Promise<Task> {
  return request("POST", "/tasks", { body: fields });
}

export function updateTask(id: string, fields: TaskFields): Promise<Task> {
  return request("PUT", `/tasks/${encodeURIComponent(id)}`, { body: fields });
}

export function deleteTask(id: string): Promise<{ message: string }> {
  return request("DELETE", `/tasks/${encodeURIComponent(id)}`);
}

/** Start a run; the key makes a retried click start it only once. */
export function startExecution(taskId: string, idempotencyKey: string): Promise<Execution> {
  return request("POST", `/tasks/${encodeURIComponent(taskId)}/executions`, {
    headers: { "Idempotency-Key": idempotencyKey },
  });
}

export function listExecutions(taskId: string, cursor?: string): Promise<ExecutionList> {
  return request("GET", `/tasks/${encodeURIComponent(taskId)}/executions`, {
    query: { limit: 20, cursor },
  });
}

/** A one-shot run: an execution that belongs to no task. */
export function createRun(fields: RunFields): Promise<Execution> {
  return request("POST", "/runs", { body: fields });
}

export interface ExecutionQuery {
  status?: string;
  script_type?: string;
  task_id?: string;
  created_after?: string;
  created_before?: string;
  cursor?: string;
  limit?: number;
}

/** Every execution of the user's, of tasks and one-shot runs alike, newest first. */
export function listAllExecutions(query: ExecutionQuery): Promise<ExecutionList> {
  return request("GET", "/executions", { query: { limit: 20, ...query } });
}

export function getExecution(id: string): Promise<Execution> {
  return request("GET", `/executions/${encodeURIComponent(id)}`);
}

export function cancelExecution(id: string): Promise<{ message: string }> {
  return request("DELETE", `/executions/${encodeURIComponent(id)}`);
}

export function logsUrl(executionId: string): string {
  return url(`/executions/${encodeURIComponent(executionId)}/logs`);
}

/** Who the caller's task is shared with, oldest first (the owner only: 403 for anyone else). */
export function listShares(taskId: string): Promise<ShareList> {
  return request("GET", `/tasks/${encodeURIComponent(taskId)}/shares`);
}

/** Share by email (201), or change that email's role (200). */
export function shareTask(taskId: string, email: string, role: ShareRole): Promise<Share> {
  return request("POST", `/tasks/${encodeURIComponent(taskId)}/shares`, { body: { email, role } });
}

/** Revoke `email`'s share (the owner), or leave a task shared with you (your own email). */
export function unshareTask(taskId: string, email: string): Promise<{ message: string }> {
  return request("DELETE", `/tasks/${encodeURIComponent(taskId)}/shares`, { query: { email } });
}

export function listApiKeys(cursor?: string): Promise<ApiKeyList> {
  return request("GET", "/auth/api-keys", { query: { limit: 20, cursor } });
}

/** The response holds the whole key, which the API never shows again. */
export function createApiKey(fields: ApiKeyFields): Promise<CreatedApiKey> {
  return request("POST", "/auth/api-keys", { body: fields });
}

/** A DELETE answered 204, with no body. */
async function remove(path: string): Promise<void> {
  const resp = await authorizedFetch(url(path), {
    method: "DELETE",
    headers: { Accept: "application/json" },
  });
  if (!resp.ok) throw await errorFrom(resp);
}

/** Revoke a key (204, no body). */
export function revokeApiKey(id: string): Promise<void> {
  return remove(`/auth/api-keys/${encodeURIComponent(id)}`);
}

export function listWebhooks(cursor?: string): Promise<WebhookList> {
  return request("GET", "/webhooks", { query: { limit: 20, cursor } });
}

export function getWebhook(id: string): Promise<Webhook> {
  return request("GET", `/webhooks/${encodeURIComponent(id)}`);
}

/** The first webhook's response holds the signing secret, which the API never shows again. */
export function createWebhook(fields: WebhookFields): Promise<CreatedWebhook> {
  return request("POST", "/webhooks", { body: fields });
}

/** Change the given fields; enabling clears the failure record (disabled_reason). */
export function updateWebhook(id: string, fields: WebhookFields): Promise<Webhook> {
  return request("PATCH", `/webhooks/${encodeURIComponent(id)}`, { body: fields });
}

export function deleteWebhook(id: string): Promise<void> {
  return remove(`/webhooks/${encodeURIComponent(id)}`);
}

export function listDeliveries(webhookId: string, cursor?: string): Promise<DeliveryList> {
  return request("GET", `/webhooks/${encodeURIComponent(webhookId)}/deliveries`, {
    query: { limit: 20, cursor },
  });
}

/** Send a delivery again (202); 409 while the webhook is disabled. */
export function redeliver(webhookId: string, deliveryId: string): Promise<Delivery> {
  const path = `/webhooks/${encodeURIComponent(webhookId)}/deliveries/${encodeURIComponent(deliveryId)}`;
  return request("POST", `${path}/redeliver`);
}

export function signingSecret(): Promise<SecretInfo> {
  return request("GET", "/webhooks/secret");
}

/** A new signing secret, in this response only; the previous one signs on for the overlap. */
export function rotateSigningSecret(): Promise<SigningSecret> {
  return request("POST", "/webhooks/secret/rotate");
}

/** The operator's figures over the last `windowMinutes` (admins only: 403 for anyone else). */
export function adminStats(windowMinutes: number, signal?: AbortSignal): Promise<AdminStats> {
  return request("GET", "/admin/stats", { query: { window: windowMinutes }, signal });
}

/** The live executors (admins only). */
export function adminExecutors(signal?: AbortSignal): Promise<ExecutorList> {
  return request("GET", "/admin/executors", { signal });
}

/** 404, or a malformed id (400): the page shows not-found either way. */
export function isNotFound(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    (error.status === 404 || (error.status === 400 && /ID format/.test(error.body.error)))
  );
}
