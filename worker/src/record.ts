/**
 * `recordLeadEvent`: the one call a lead-capture Worker makes per received submit. It writes the
 * CONTRACT §5 data point to Analytics Engine and hands the event to leadstats (directly, or through a
 * Queue whose consumer forwards it; see queue.ts).
 */

import { toDataPoint, type AnalyticsEngineDatasetLike, type LeadDataPoint } from "./datapoint.js";
import { withEventId, type LeadEvent, type LeadEventInput } from "./event.js";
import { forwardEvents, type ForwardResult, type RetryOptions } from "./forward.js";

/** A Cloudflare Queue producer binding (`[[queues.producers]]`). */
export interface QueueProducerLike<T = LeadEvent> {
  send(body: T, options?: { contentType?: string; delaySeconds?: number }): Promise<unknown>;
}

/** The `ctx` of a fetch handler: work handed to `waitUntil` runs on after the response. */
export interface WaitUntilLike {
  waitUntil(promise: Promise<unknown>): void;
}

export interface LeadstatsBindings {
  /** Analytics Engine dataset binding (`lead_submissions`): the data point is written when given. */
  dataset?: AnalyticsEngineDatasetLike | null;
  /** leadstats server and ingest token: the event is sent there when both are given (and no queue). */
  url?: string | null;
  token?: string | null;
  /** Queue producer: when given, the event is enqueued instead of sent; the consumer forwards it. */
  queue?: QueueProducerLike | null;
  retry?: RetryOptions;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Called with a failure that is not thrown (a write or a delivery); default console.error. */
  onError?: (error: unknown, event: LeadEvent) => void;
}

export type Delivery =
  | { kind: "sent"; result: ForwardResult }
  | { kind: "queued" }
  | { kind: "failed"; error: unknown }
  | { kind: "none" };

export interface RecordResult {
  /** The event as sent, with its `event_id`. */
  event: LeadEvent;
  /** The data point written (or that would have been, without a dataset). */
  dataPoint: LeadDataPoint;
  /** Whether `writeDataPoint` was called and did not throw. */
  written: boolean;
  /** Settles when the hand-over to leadstats is done; never rejects. */
  delivery: Promise<Delivery>;
}

/**
 * Record one lead event. The event is validated (a {@link LeadEventError} is thrown for a bad field:
 * that is a bug in the calling code) and gets its stable `event_id`. Then, without throwing:
 * - `bindings.dataset`: `writeDataPoint(toDataPoint(event))`;
 * - `bindings.queue`: `queue.send(event)`; otherwise `bindings.url` + `bindings.token`: POST to
 *   leadstats with retries. With a `ctx` this runs in `ctx.waitUntil` (the visitor does not wait) and
 *   the call returns at once; without one, the call waits for it.
 *
 * @example
 * await recordLeadEvent(acceptedSubmit({ primary: true, submissionId: 81723, project: "Skyline" }),
 *   bindingsFromEnv(env), ctx);
 */
export async function recordLeadEvent(
  input: LeadEventInput,
  bindings: LeadstatsBindings,
  ctx?: WaitUntilLike | null,
): Promise<RecordResult> {
  const event = await withEventId(input);
  const dataPoint = toDataPoint(event);
  const report = bindings.onError ?? ((err: unknown, ev: LeadEvent) => console.error("leadstats:", ev.event_id, err));
  let written = false;
  if (bindings.dataset) {
    try {
      bindings.dataset.writeDataPoint(dataPoint);
      written = true;
    } catch (err) {
      report(err, event);
    }
  }
  let delivery: Promise<Delivery> = Promise.resolve({ kind: "none" });
  if (bindings.queue) {
    const queue = bindings.queue;
    delivery = queue.send(event).then(
      (): Delivery => ({ kind: "queued" }),
      (error: unknown): Delivery => (report(error, event), { kind: "failed", error }),
    );
  } else if (Boolean(bindings.url) !== Boolean(bindings.token)) {
    const error = new Error("leadstats: set both the server URL and the ingest token (LEADSTATS_URL, LEADSTATS_TOKEN), or neither");
    report(error, event);
    delivery = Promise.resolve({ kind: "failed", error });
  } else if (bindings.url && bindings.token) {
    delivery = forwardEvents([event], {
      url: bindings.url,
      token: bindings.token,
      retry: bindings.retry,
      fetch: bindings.fetch,
      timeoutMs: bindings.timeoutMs,
    }).then(
      (result): Delivery => {
        for (const r of result.rejected) report(new Error(`rejected: ${r.field}: ${r.error}`), event);
        return { kind: "sent", result };
      },
      (error: unknown): Delivery => (report(error, event), { kind: "failed", error }),
    );
  }
  if (ctx) ctx.waitUntil(delivery);
  else await delivery;
  return { event, dataPoint, written, delivery };
}

/** Names of the bindings and secrets in `env` read by {@link bindingsFromEnv}. */
export interface EnvNames {
  dataset?: string;
  url?: string;
  token?: string;
  queue?: string;
}

export const DEFAULT_ENV_NAMES = {
  dataset: "LEAD_SUBMISSIONS",
  url: "LEADSTATS_URL",
  token: "LEADSTATS_TOKEN",
  queue: "LEAD_EVENTS",
} as const;

/**
 * The bindings from a Worker's `env`: `LEAD_SUBMISSIONS` (AE dataset), `LEADSTATS_URL`,
 * `LEADSTATS_TOKEN` (secrets) and `LEAD_EVENTS` (Queue producer), each optional; other names via `names`.
 */
export function bindingsFromEnv(env: object, names: EnvNames = {}, extra: Partial<LeadstatsBindings> = {}): LeadstatsBindings {
  const e = env as Record<string, unknown>;
  const n = { ...DEFAULT_ENV_NAMES, ...names };
  const str = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? v.trim() : null);
  return {
    dataset: (e[n.dataset] as AnalyticsEngineDatasetLike | undefined) ?? null,
    url: str(e[n.url]),
    token: str(e[n.token]),
    queue: (e[n.queue] as QueueProducerLike | undefined) ?? null,
    ...extra,
  };
}
