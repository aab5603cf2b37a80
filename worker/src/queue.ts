/**
 * The Queue consumer: forwards the lead events that {@link recordLeadEvent} enqueued to leadstats in
 * requests of up to 1,000, acks each message whose events were stored and retries the others, so an
 * event is not lost while leadstats is down (after `max_retries` the Queue moves it to its dead-letter
 * queue). A redelivered message carries the same `event_id`s: the server stores them once.
 */

import { withEventId, type LeadEvent } from "./event.js";
import { forwardEvents, LeadstatsDeliveryError, MAX_EVENTS_PER_REQUEST, type ForwardOptions } from "./forward.js";
import { DEFAULT_ENV_NAMES } from "./record.js";

export interface QueueMessageLike<T = unknown> {
  readonly id: string;
  readonly body: T;
  readonly attempts?: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

export interface MessageBatchLike<T = unknown> {
  readonly queue: string;
  readonly messages: readonly QueueMessageLike<T>[];
  ackAll(): void;
  retryAll(options?: { delaySeconds?: number }): void;
}

export interface ConsumerOptions extends ForwardOptions {
  /** Delay before a failed message is delivered again, when the server named none (default 30 s). */
  retryDelaySeconds?: number;
  onError?: (error: unknown) => void;
}

export interface ConsumeResult {
  acked: number;
  retried: number;
  accepted: number;
  duplicates: number;
  /** Messages whose body was no lead event: acked (a retry cannot fix them) and reported. */
  invalid: number;
}

async function eventsOf(body: unknown): Promise<LeadEvent[]> {
  const items = Array.isArray(body) ? body : [body];
  return Promise.all(items.map((item) => withEventId(item as LeadEvent)));
}

/** Forward one batch (see the module doc); resolves when every message is acked or retried. */
export async function consumeLeadEvents(batch: MessageBatchLike, options: ConsumerOptions): Promise<ConsumeResult> {
  const report = options.onError ?? ((err: unknown) => console.error("leadstats queue:", err));
  const out: ConsumeResult = { acked: 0, retried: 0, accepted: 0, duplicates: 0, invalid: 0 };
  type Group = { messages: QueueMessageLike[]; events: LeadEvent[] };
  const groups: Group[] = [];
  let group: Group = { messages: [], events: [] };
  for (const message of batch.messages) {
    let events: LeadEvent[];
    try {
      events = await eventsOf(message.body);
    } catch (err) {
      report(err);
      message.ack();
      out.invalid += 1;
      out.acked += 1;
      continue;
    }
    if (group.events.length > 0 && group.events.length + events.length > MAX_EVENTS_PER_REQUEST) {
      groups.push(group);
      group = { messages: [], events: [] };
    }
    group.messages.push(message);
    group.events.push(...events);
  }
  if (group.messages.length > 0) groups.push(group);

  const failed: { messages: QueueMessageLike[]; delaySeconds: number }[] = [];
  for (const g of groups) {
    try {
      const result = await forwardEvents(g.events, options);
      out.accepted += result.accepted;
      out.duplicates += result.duplicates;
      for (const r of result.rejected) report(new Error(`rejected ${r.event_id}: ${r.field}: ${r.error}`));
      for (const m of g.messages) m.ack();
      out.acked += g.messages.length;
    } catch (err) {
      report(err);
      const after = err instanceof LeadstatsDeliveryError ? err.retryAfterSeconds : null;
      failed.push({ messages: g.messages, delaySeconds: Math.ceil(after ?? options.retryDelaySeconds ?? 30) });
    }
  }
  const failedCount = failed.reduce((n, f) => n + f.messages.length, 0);
  if (failedCount > 0 && failedCount === batch.messages.length && failed.length === 1) {
    batch.retryAll({ delaySeconds: failed[0].delaySeconds });
  } else {
    for (const f of failed) for (const m of f.messages) m.retry({ delaySeconds: f.delaySeconds });
  }
  out.retried = failedCount;
  return out;
}

/**
 * A `queue(batch, env)` handler reading its options from `env` (by default `LEADSTATS_URL` and
 * `LEADSTATS_TOKEN`). Export it from the Worker: `export default { fetch, queue: createQueueConsumer() }`.
 */
export function createQueueConsumer(
  select: (env: Record<string, unknown>) => ConsumerOptions = (env) => ({
    url: String(env[DEFAULT_ENV_NAMES.url] ?? ""),
    token: String(env[DEFAULT_ENV_NAMES.token] ?? ""),
  }),
): (batch: MessageBatchLike, env: object) => Promise<void> {
  return async (batch, env) => {
    const options = select(env as Record<string, unknown>);
    if (!options.url || !options.token) {
      // No server configured: keep the messages (they go to the dead-letter queue after max_retries).
      console.error("leadstats queue: LEADSTATS_URL / LEADSTATS_TOKEN not set; retrying the batch");
      batch.retryAll({ delaySeconds: options.retryDelaySeconds ?? 30 });
      return;
    }
    await consumeLeadEvents(batch, options);
  };
}

/** {@link createQueueConsumer} with the default env names. */
export const queueConsumer = createQueueConsumer();
