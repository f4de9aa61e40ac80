// The REST API's bodies (see /openapi.json), as the UI reads them.

export interface User {
  id: string;
  email: string;
  name: string;
  role: "user" | "admin";
  created_at: string;
  updated_at: string;
}

export interface SessionBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  user: User;
}

export interface ValidationErrorItem {
  field: string;
  value: string;
  tag: string;
  message: string;
}

export interface ErrorBody {
  error: string;
  details?: string;
  validation_errors?: ValidationErrorItem[];
  retry_after?: number;
}

/** Every status of a task or execution, in their order of life (the lists' filters offer them). */
export const STATUSES = ["pending", "running", "completed", "failed", "timeout", "cancelled"] as const;
export type TaskStatus = (typeof STATUSES)[number];
export type ExecutionStatus = TaskStatus;

export interface Limits {
  timeout_seconds: number;
  memory_limit_mb: number;
  cpu_limit: number;
  max_output_bytes: number;
}

/** A file of the run's work dir; `content` is base64 when `encoding` says so. */
export interface SourceFile {
  path: string;
  content: string;
  encoding?: "utf8" | "base64";
}

export type Compare = "exact" | "trim_trailing_whitespace" | "ignore_whitespace";

/** A test case as its owner wrote it (inputs of a run, and on the task definition). */
export interface TestCase {
  name: string;
  stdin?: string;
  stdin_base64?: string;
  args?: string[];
  expected_stdout?: string;
  expected_stdout_base64?: string;
  compare?: Compare;
  hidden?: boolean;
}

export interface Task extends Limits {
  id: string;
  user_id: string;
  name: string;
  description?: string;
  /** The one-file form; omitted when the task has `files`. */
  script_content?: string;
  script_type: string;
  version?: string;
  files?: SourceFile[];
  entrypoint?: string;
  args?: string[];
  test_cases?: TestCase[];
  stop_on_first_failure?: boolean;
  status: TaskStatus;
  priority: number;
  metadata: Record<string, unknown>;
  stdin?: string;
  /** Omitted when the task is shared with the caller (not theirs). */
  env?: Record<string, string>;
  callback_url?: string;
  /** The owner's new signing secret, only in the answer to the save whose callback_url made it. */
  webhook_secret?: string;
  created_at: string;
  updated_at: string;
  /** Set when the task is another user's, shared with the caller in this role. */
  shared_role?: ShareRole;
}

/** What a run is: the fields a task and a one-shot run share. */
export interface RunFields extends Partial<Limits> {
  script_content?: string;
  script_type?: string;
  version?: string;
  files?: SourceFile[];
  entrypoint?: string;
  args?: string[];
  stdin?: string | null;
  env?: Record<string, string>;
  test_cases?: TestCase[];
  stop_on_first_failure?: boolean;
  /** Every webhook event of the run (a task's: of each execution) also goes here; null clears it. */
  callback_url?: string | null;
}

export interface TaskFields extends RunFields {
  name?: string;
  description?: string | null;
  priority?: number;
  metadata?: Record<string, unknown>;
}

export interface Pagination {
  has_more: boolean;
  next_cursor?: string;
}

export interface TaskList {
  tasks: Task[];
  total?: number;
  limit: number;
  offset?: number;
  pagination: Pagination;
}

export type TerminationReason =
  | "exit"
  | "timeout"
  | "memory_limit"
  | "output_limit"
  | "pids_limit"
  | "security_violation"
  | "cancelled"
  | "compile_error"
  | "sandbox_error";

export type Verdict =
  | "accepted"
  | "wrong_answer"
  | "time_limit_exceeded"
  | "memory_limit_exceeded"
  | "output_limit_exceeded"
  | "runtime_error"
  | "compile_error"
  | "internal_error";

/** A test case's verdict and figures, as the resource and the `case_end` event both carry them. */
export interface CaseFigures {
  verdict: Verdict;
  execution_time_ms: number;
  cpu_time_ms: number;
  memory_usage_bytes: number;
  termination_reason?: TerminationReason;
  return_code?: number;
  exit_signal?: string;
}

/** How one test case went; a hidden case has only its verdict, time, CPU and memory. */
export interface CaseResult extends CaseFigures {
  index: number;
  name: string;
  hidden: boolean;
  stdout?: string;
  stdout_base64?: string;
  stderr?: string;
  stderr_base64?: string;
  stdout_truncated?: boolean;
  stderr_truncated?: boolean;
}

/** A test case a one-shot run was judged against; a hidden one has only its name. */
export interface RunTestCase extends TestCase {
  hidden: boolean;
}

/** What a one-shot run ran (a task's executions run the task). */
export interface RunView {
  script_content?: string;
  files?: SourceFile[];
  entrypoint?: string;
  args?: string[];
  stdin?: string;
  stdin_base64?: string;
  /** In order; omitted when the run had none. */
  test_cases?: RunTestCase[];
  stop_on_first_failure?: boolean;
}

export interface Execution {
  id: string;
  /** Omitted for a one-shot run. */
  task_id?: string;
  status: ExecutionStatus;
  script_type?: string;
  version?: string;
  /** The limits the run had. */
  limits?: Limits;
  run?: RunView;
  verdict?: Verdict;
  passed?: number;
  total?: number;
  cases?: CaseResult[];
  return_code?: number;
  exit_signal?: string;
  stdout?: string;
  stdout_base64?: string;
  stderr?: string;
  stderr_base64?: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  termination_reason?: TerminationReason;
  termination_detail?: string;
  execution_time_ms?: number;
  cpu_time_ms?: number;
  memory_usage_bytes?: number;
  compile_output?: string;
  compile_output_base64?: string;
  compile_time_ms?: number;
  attempt: number;
  started_at?: string;
  completed_at?: string;
  created_at: string;
  /** The caller's new signing secret, only in the answer to the run whose callback_url made it. */
  webhook_secret?: string;
}

export interface ExecutionList {
  executions: Execution[];
  limit: number;
  pagination: Pagination;
}

export interface ExecutionBatch {
  executions: Execution[];
}

export interface Runtime {
  name: string;
  language: string;
  version: string;
  available: boolean;
  executors: number;
  /** More names a run may give as script_type. */
  aliases?: string[];
  /** Why it is unavailable (the package to install, say). */
  reason?: string | null;
  default_limits: Limits;
  max_limits: Limits;
}

export type StreamName = "stdout" | "stderr";

/** A `stdout` or `stderr` event of the log stream. */
export interface LogChunk {
  stream: StreamName;
  seq: number;
  attempt: number;
  text: string;
  base64?: string;
  /** The test case (1-based) the chunk belongs to; absent outside test cases. */
  case?: number;
}

/** A `case_start` event. */
export interface LogCaseStart {
  case: number;
  seq: number;
  attempt: number;
  name: string;
}

/** A `case_end` event: the case's verdict and figures (a hidden case's only those). */
export interface LogCaseEnd extends CaseFigures {
  case: number;
  seq: number;
  attempt: number;
}

/** The `end` event of the log stream. */
export interface LogEnd {
  status: ExecutionStatus;
  attempt: number;
  seq: number;
  return_code?: number;
  exit_signal?: string;
  termination_reason?: TerminationReason;
  verdict?: Verdict;
  passed?: number;
  total?: number;
}

export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "completed",
  "failed",
  "timeout",
  "cancelled",
]);

/** What an API key may do: read (GET routes), run (read, plus starting work), manage (all). */
export const SCOPES = ["read", "run", "manage", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** A key just created: the whole key is in this response only. */
export interface CreatedApiKey extends ApiKey {
  key: string;
}

export interface ApiKeyFields {
  name: string;
  scopes: Scope[];
  expires_at: string | null;
}

export interface ApiKeyList {
  api_keys: ApiKey[];
  pagination: Pagination;
}

/** Milliseconds; null when nothing in the window had the figure. */
export interface Percentiles {
  p50: number | null;
  p95: number | null;
}

export interface RuntimeStats {
  runtime: string;
  /** Accepted in the window. */
  executions: number;
  /** Of those, ended failed, timeout or cancelled. */
  unsuccessful: number;
  run_ms: Percentiles;
  /** Acceptance to an executor's start. */
  queue_wait_ms: Percentiles;
}

export interface MinuteStats {
  minute: string;
  accepted: number;
  finished: number;
}

export interface WindowStats {
  minutes: number;
  accepted: number;
  by_status: Record<string, number>;
  by_termination_reason: Record<string, number>;
  runtimes: RuntimeStats[];
  /** Every minute of the window, oldest first. */
  per_minute: MinuteStats[];
}

export interface LaneStats {
  lane: string;
  pending: number;
  in_flight: number;
  redelivered: number;
}

/** GET /admin/stats: executions now and over a window, the lanes, the outbox, the capacity. */
export interface AdminStats {
  as_of: string;
  active: { pending: number; running: number };
  window: WindowStats;
  lanes: LaneStats[];
  outbox: { pending: number; oldest_seconds: number };
  capacity: { executors: number; slots: number; busy: number };
}

export interface ExecutorInfo {
  id: string;
  backend: string;
  runtimes: string[];
  slots: number;
  busy: number;
  /** Stopping: it takes no new job. */
  draining: boolean;
  started_at: string;
  last_heartbeat_at: string;
}

export interface ExecutorList {
  executors: ExecutorInfo[];
}

/** What a webhook may be told: an execution started, or ended in one of the final statuses. */
export const EVENT_TYPES = [
  "execution.started",
  "execution.completed",
  "execution.failed",
  "execution.timeout",
  "execution.cancelled",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface Webhook {
  id: string;
  url: string;
  events: EventType[];
  enabled: boolean;
  /** Why delivery stopped by itself: the receiver answered 410, or every attempt failed for days. */
  disabled_reason?: "gone" | "failing";
  description: string;
  created_at: string;
  updated_at: string;
}

/** A webhook just created: `secret` only when this call created the caller's signing secret. */
export interface CreatedWebhook extends Webhook {
  secret?: string;
}

export interface WebhookFields {
  url?: string;
  events?: EventType[];
  enabled?: boolean;
  description?: string;
}

export interface WebhookList {
  webhooks: Webhook[];
  pagination: Pagination;
}

export interface DeliveryAttempt {
  attempt: number;
  attempted_at: string;
  /** Absent when no answer came. */
  status_code?: number;
  latency_ms: number;
  error?: string;
}

export type DeliveryState = "pending" | "delivered" | "failed";

export interface Delivery {
  id: string;
  /** The `webhook-id` header: the same on every attempt. */
  message_id: string;
  webhook_id: string;
  event_type: EventType;
  execution_id: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at?: string;
  created_at: string;
  attempt_log: DeliveryAttempt[];
}

export interface DeliveryList {
  deliveries: Delivery[];
  pagination: Pagination;
}

/** The caller's signing secret, never the secret itself. */
export interface SecretInfo {
  exists: boolean;
  created_at?: string;
  previous_valid_until?: string;
}

/** A rotated secret: shown this once; the previous one signs too until previous_valid_until. */
export interface SigningSecret {
  secret: string;
  previous_valid_until?: string;
  created_at: string;
}

/** `viewer` reads a task, its runs and their logs; `runner` also starts and cancels runs. */
export const SHARE_ROLES = ["viewer", "runner"] as const;
export type ShareRole = (typeof SHARE_ROLES)[number];

export interface Share {
  /** Lower-cased. */
  email: string;
  role: ShareRole;
  created_at: string;
  updated_at: string;
}

export interface ShareList {
  shares: Share[];
}
