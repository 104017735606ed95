// One way to call the API: JSON in and out, the session's bearer token, typed errors.

import type { ApiErrorBody, FieldError } from "./types";

export const API = "/api/v1";

/** An error answer of the API: its HTTP status and machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** Validation errors by field name (the last part of each error's location). */
  fieldErrors(): Record<string, string> {
    const errors = (this.details.errors ?? []) as FieldError[];
    const byField: Record<string, string> = {};
    for (const error of errors) {
      const field = String(error.loc.filter((part) => part !== "body").join(".") || "form");
      byField[field] ??= error.message;
    }
    return byField;
  }
}

type Unauthenticated = () => void;
let token: string | null = null;
let onUnauthenticated: Unauthenticated = () => {};

/** The session's token (set by the session provider) and what to do when it expires. */
export function setSession(value: string | null, expired: Unauthenticated): void {
  token = value;
  onUnauthenticated = expired;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  body?: unknown;
  headers?: Record<string, string>;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`${API}${path}`, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "livevote cannot be reached; check your connection");
  }
  if (response.status === 204) return undefined as T;
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return (text ? safeJson(text) : undefined) as T;
}

/** The API's error answer as an ApiError; an expired session is ended. */
async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  const error = (text ? (safeJson(text) as ApiErrorBody | undefined) : undefined)?.error;
  if (response.status === 401 && token) onUnauthenticated();
  return new ApiError(
    response.status,
    error?.code ?? "HTTP_" + response.status,
    error?.message ?? response.statusText,
    error?.details ?? {},
  );
}

/** A download (CSV, PDF) with the session's token, as a Blob. */
export async function download(path: string): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(`${API}${path}`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "livevote cannot be reached; check your connection");
  }
  if (!response.ok) throw await failure(response);
  return response.blob();
}

/** A download handed to the browser to save as `filename`. The API needs the bearer
 * token, which a plain link cannot send, so the file is fetched and saved from memory. */
export async function saveDownload(path: string, filename: string): Promise<void> {
  const url = URL.createObjectURL(await download(path));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked after the click has been handled: the download has its own copy by then.
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A fresh idempotency key, so that a retried click cannot act twice. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
