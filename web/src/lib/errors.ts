// Errors as the API states them: its error body ({error, details?, validation_errors?}) kept
// whole, so a page can show the message and mark the fields it names.

import type { ErrorBody, ValidationErrorItem } from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody;

  constructor(status: number, body: ErrorBody) {
    super(body.details ? `${body.error}: ${body.details}` : body.error);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  /** The validation errors by JSON field name (the first message of each). */
  get fields(): Record<string, string> {
    const found: Record<string, string> = {};
    for (const item of this.body.validation_errors ?? []) {
      found[item.field] ??= item.message;
    }
    return found;
  }

  get items(): ValidationErrorItem[] {
    return this.body.validation_errors ?? [];
  }
}

const STATUS_TEXT: Record<number, string> = {
  413: "The request is too large",
  429: "Too many requests: wait a moment and try again",
  502: "VoidRunner is unavailable right now",
  503: "VoidRunner is unavailable right now",
  504: "VoidRunner took too long to answer",
};

/** The ApiError of a failed response, from its JSON error body when it has one. */
export async function errorFrom(resp: Response): Promise<ApiError> {
  let body: ErrorBody | null = null;
  try {
    const parsed: unknown = await resp.json();
    if (parsed && typeof parsed === "object" && typeof (parsed as ErrorBody).error === "string") {
      body = parsed as ErrorBody;
    }
  } catch {
    body = null;
  }
  body ??= { error: STATUS_TEXT[resp.status] ?? `Request failed (HTTP ${resp.status})` };
  if (resp.status === 429 && body.retry_after !== undefined) {
    body = { ...body, details: `try again in ${body.retry_after} s` };
  }
  return new ApiError(resp.status, body);
}

/** A message for anything thrown. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return "Something went wrong";
}
