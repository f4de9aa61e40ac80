// How numbers and times read in the UI.

export function bytes(n: number | undefined): string {
  if (n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return "–";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function when(iso: string | undefined): string {
  return iso ? DATE.format(new Date(iso)) : "–";
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** The time between two timestamps, e.g. how long a run waited in the queue. */
export function between(from: string | undefined, to: string | undefined): number | undefined {
  if (!from || !to) return undefined;
  return Math.max(0, new Date(to).getTime() - new Date(from).getTime());
}

export const REASONS: Record<string, string> = {
  exit: "exited",
  timeout: "time limit",
  memory_limit: "memory limit",
  output_limit: "output limit",
  pids_limit: "process limit",
  security_violation: "security violation",
  cancelled: "cancelled",
  compile_error: "compile error",
  sandbox_error: "sandbox error",
};

export function reason(value: string | undefined): string {
  return value ? (REASONS[value] ?? value) : "–";
}

export const VERDICTS: Record<string, string> = {
  accepted: "accepted",
  wrong_answer: "wrong answer",
  time_limit_exceeded: "time limit exceeded",
  memory_limit_exceeded: "memory limit exceeded",
  output_limit_exceeded: "output limit exceeded",
  runtime_error: "runtime error",
  compile_error: "compile error",
  internal_error: "internal error",
};

export function verdict(value: string | undefined): string {
  return value ? (VERDICTS[value] ?? value) : "–";
}

const CLOCK = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** The time of day of a timestamp, to the second. */
export function clock(iso: string | undefined): string {
  return iso ? CLOCK.format(new Date(iso)) : "–";
}

/** How long ago, from seconds: "4 s", "3 min", "2 h 5 min", "3 d 4 h". */
export function age(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) {
    const minutes = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${minutes ? ` ${minutes} min` : ""}`;
  }
  const hours = Math.floor((s % 86_400) / 3600);
  return `${Math.floor(s / 86_400)} d${hours ? ` ${hours} h` : ""}`;
}
