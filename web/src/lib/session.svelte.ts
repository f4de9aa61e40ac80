// The signed-in user and the access token: in this tab's memory only, never in localStorage or
// sessionStorage. What survives a reload is the refresh cookie (httpOnly, SameSite=Strict, sent
// only to /api/v1/auth/session), which the gateway rotates on every refresh.
//
// A refresh token is single use and presenting a used one revokes the whole session, so two
// refreshes must never race with one cookie: refreshes are serialized across this origin's
// tabs with the Web Locks API (each tab then presents the cookie the previous one received),
// and sent with `keepalive` so that a reload in the middle still stores the rotated cookie.
// A tab that went away mid-refresh cannot say when that request ended; the next refresh waits
// a moment for it (SETTLE_MS) instead of racing it with the old cookie.

import { ApiError, errorFrom } from "./errors";
import type { SessionBody, User } from "./types";

const SESSION = "/api/v1/auth/session";
const CSRF = { "X-VoidRunner-CSRF": "1" };
const LOCK = "voidrunner-session-refresh";
// A timestamp (no token): when some tab last started a refresh it has not seen end.
const IN_FLIGHT = "voidrunner.refresh-started";
const SETTLE_MS = 3000;
// A flag (no token): this browser signed in and has not signed out, so a new page tries the
// cookie; without it the page goes straight to sign-in, sparing a refresh that must fail.
const HINT = "voidrunner.signed-in";

export type SessionStatus = "unknown" | "signed-in" | "signed-out";

export const session = $state<{ status: SessionStatus; user: User | null; notice: string }>({
  status: "unknown",
  user: null,
  notice: "",
});

let accessToken: string | null = null;
let refreshing: Promise<boolean> | null = null;
const channel = "BroadcastChannel" in window ? new BroadcastChannel("voidrunner-session") : null;

channel?.addEventListener("message", (event: MessageEvent<unknown>) => {
  if (event.data === "signed-out" && session.status === "signed-in") {
    forget("You signed out in another tab.");
  }
});

/** The current access token, if signed in. */
export function token(): string | null {
  return accessToken;
}

function adopt(body: SessionBody): void {
  store(HINT, "1");
  accessToken = body.access_token;
  session.user = body.user;
  session.status = "signed-in";
  session.notice = "";
}

function forget(notice = ""): void {
  store(HINT, null);
  accessToken = null;
  session.user = null;
  session.status = "signed-out";
  session.notice = notice;
}

async function post(path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { ...CSRF, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    return await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      ...init,
    });
  } catch {
    throw new ApiError(0, { error: "Cannot reach VoidRunner. Check your connection." });
  }
}

async function sessionFrom(resp: Response): Promise<SessionBody> {
  if (!resp.ok) throw await errorFrom(resp);
  return (await resp.json()) as SessionBody;
}

export async function signIn(email: string, password: string): Promise<void> {
  adopt(await sessionFrom(await post(SESSION, { email, password })));
}

export async function signUp(name: string, email: string, password: string): Promise<void> {
  adopt(await sessionFrom(await post(`${SESSION}/register`, { name, email, password })));
}

export async function signOut(): Promise<void> {
  try {
    await fetch(SESSION, { method: "DELETE", credentials: "same-origin", headers: CSRF });
  } finally {
    forget("You signed out.");
    channel?.postMessage("signed-out");
  }
}

/** The session ended elsewhere (revoked, expired): back to sign-in with a word why. */
export function expire(): void {
  if (session.status !== "signed-out") forget("Your session has ended. Please sign in again.");
}

/** Restore the session of a new page from the refresh cookie. */
export async function restore(): Promise<void> {
  if (read(HINT, "unknown") === null) {
    forget();
    return;
  }
  try {
    if (!(await refresh())) forget();
  } catch (error) {
    forget(error instanceof ApiError ? error.message : "Cannot reach VoidRunner.");
  }
}

/**
 * A new access token from the refresh cookie; false when there is no session (any more).
 * One refresh at a time per tab, and one at a time across tabs.
 */
export function refresh(): Promise<boolean> {
  refreshing ??= serialized(rotate).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** After a 401 with `failed`: true when a fresh token is there (maybe refreshed meanwhile). */
export async function refreshAfter(failed: string | null): Promise<boolean> {
  if (accessToken !== null && accessToken !== failed) return true;
  return refresh();
}

async function serialized<T>(work: () => Promise<T>): Promise<T> {
  if (navigator.locks) return navigator.locks.request(LOCK, work);
  return work(); // no Web Locks (an insecure context): at least one refresh at a time here
}

async function rotate(): Promise<boolean> {
  await settle();
  store(IN_FLIGHT, String(Date.now()));
  try {
    // keepalive: the request outlives this page, so a reload mid-refresh keeps the new cookie.
    const resp = await post(`${SESSION}/refresh`, undefined, { keepalive: true });
    if (resp.status === 401) return false;
    adopt(await sessionFrom(resp));
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  } finally {
    store(IN_FLIGHT, null);
  }
}

async function settle(): Promise<void> {
  const started = Number(read(IN_FLIGHT) ?? 0);
  const waited = Date.now() - started;
  if (started > 0 && waited >= 0 && waited < SETTLE_MS) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS - waited));
  }
}

function read(key: string, otherwise: string | null = null): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return otherwise; // storage disabled
  }
}

function store(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage disabled: refreshes are still serialized, only the reload case is unguarded.
  }
}
