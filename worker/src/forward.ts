/**
 * Send events to `leadstats serve`: `POST {url}/api/v1/events` with the ingest token, a JSON array
 * per request, retried with backoff on network errors, 429 (after `Retry-After`) and 5xx.
 *
 * Retrying is always safe: the server stores each `event_id` once, so a request whose answer was lost
 * and is sent again counts in `duplicates`, not twice.
 */

import type { LeadEvent } from "./event.js";

/** Events per request: the Queue consumer's batch size, well under the server's 10,000 and 5 MiB. */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** Body bytes per request (the server refuses more than 5 MiB with 413). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface RetryOptions {
  /** Tries per request, the first included (default 5). */
  attempts?: number;
  /** First backoff in ms, doubled on every retry, with full jitter (default 250). */
  baseDelayMs?: number;
  /** Longest single wait in ms, `Retry-After` included (default 20,000). */
  maxDelayMs?: number;
}

export interface ForwardOptions {
  /** The server, e.g. `https://leadstats.example.com` (a trailing `/` is fine). */
  url: string;
  /** An ingest token (`LEADSTATS_INGEST_TOKENS` on the server). */
  token: string;
  retry?: RetryOptions;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Per-request timeout in ms (default 10,000). */
  timeoutMs?: number;
}

/** The server's answer to one request (docs/http-api.md). */
export interface IngestAnswer {
  accepted: number;
  duplicates: number;
  rejected: { index: number; event_id: string | null; field: string; error: string }[];
}

/** What a whole send did: answers summed; `rejected[].index` is the position in the events sent. */
export type ForwardResult = IngestAnswer & { requests: number; attempts: number };

/** A send that did not get a 200; `retryable` says whether trying later may succeed. */
export class LeadstatsDeliveryError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
    /** Seconds the server asked to wait (429), when it said. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "LeadstatsDeliveryError";
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `Retry-After` as seconds: a number of seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const when = Date.parse(header);
  return Number.isNaN(when) ? null : Math.max(0, (when - now) / 1000);
}

/** Cut events into requests of at most {@link MAX_EVENTS_PER_REQUEST} events and {@link MAX_BODY_BYTES}. */
export function chunkEvents(events: readonly LeadEvent[]): { start: number; body: string; count: number }[] {
  const chunks: { start: number; body: string; count: number }[] = [];
  let parts: string[] = [];
  let bytes = 2;
  let start = 0;
  const encoder = new TextEncoder();
  events.forEach((event, i) => {
    const text = JSON.stringify(event);
    const size = encoder.encode(text).length + 1;
    if (parts.length > 0 && (parts.length >= MAX_EVENTS_PER_REQUEST || bytes + size > MAX_BODY_BYTES)) {
      chunks.push({ start, body: `[${parts.join(",")}]`, count: parts.length });
      parts = [];
      bytes = 2;
      start = i;
    }
    parts.push(text);
    bytes += size;
  });
  if (parts.length > 0) chunks.push({ start, body: `[${parts.join(",")}]`, count: parts.length });
  return chunks;
}

async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    return body.error ? `${body.error.code ?? ""}: ${body.error.message ?? ""}` : "";
  } catch {
    return "";
  }
}

/** POST one JSON array body, retrying as the module doc says; the answer of the 200. */
export async function postEvents(body: string, options: ForwardOptions): Promise<IngestAnswer & { attempts: number }> {
  const attempts = Math.max(1, options.retry?.attempts ?? 5);
  const base = options.retry?.baseDelayMs ?? 250;
  const maxDelay = options.retry?.maxDelayMs ?? 20_000;
  const doFetch = options.fetch ?? fetch;
  const endpoint = `${options.url.replace(/\/+$/, "")}/api/v1/events`;
  let last: LeadstatsDeliveryError = new LeadstatsDeliveryError("not sent", null, true);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let wait = Math.random() * Math.min(maxDelay, base * 2 ** (attempt - 1));
    try {
      const res = await doFetch(endpoint, {
        method: "POST",
        headers: { Authorization: `Bearer ${options.token}`, "Content-Type": "application/json" },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      if (res.ok) {
        const answer = (await res.json()) as IngestAnswer;
        return { ...answer, attempts: attempt };
      }
      const detail = await errorText(res);
      if (res.status === 429 || res.status >= 500) {
        const after = res.status === 429 ? retryAfterSeconds(res.headers.get("Retry-After")) : null;
        if (after !== null) wait = Math.min(maxDelay, after * 1000);
        last = new LeadstatsDeliveryError(`leadstats answered ${res.status} ${detail}`.trim(), res.status, true, after);
      } else {
        // 400/401/403/413/422: the configuration or the payload is wrong; the same request fails again.
        throw new LeadstatsDeliveryError(`leadstats answered ${res.status} ${detail}`.trim(), res.status, false);
      }
    } catch (err) {
      if (err instanceof LeadstatsDeliveryError) throw err;
      last = new LeadstatsDeliveryError(`leadstats unreachable: ${String(err)}`, null, true);
    }
    if (attempt < attempts) await sleep(wait);
  }
  throw last;
}

/**
 * Send every event (in requests of up to 1,000). Resolves with the summed answers; rejects with a
 * {@link LeadstatsDeliveryError} when a request fails after its retries (earlier requests stay stored).
 * Rejected records (bad data) are in the result, not retried: the same record would be rejected again.
 */
export async function forwardEvents(events: readonly LeadEvent[], options: ForwardOptions): Promise<ForwardResult> {
  const result: ForwardResult = { accepted: 0, duplicates: 0, rejected: [], requests: 0, attempts: 0 };
  for (const chunk of chunkEvents(events)) {
    const answer = await postEvents(chunk.body, options);
    result.accepted += answer.accepted;
    result.duplicates += answer.duplicates;
    result.rejected.push(...answer.rejected.map((r) => ({ ...r, index: r.index + chunk.start })));
    result.requests += 1;
    result.attempts += answer.attempts;
  }
  return result;
}
