/**
 * The lead event of leadstats' CONTRACT §1, its validation, and its stable `event_id`.
 *
 * Only `event_type` is required here: `occurred_at` defaults to now and `event_id` is derived
 * (see {@link withEventId}), so a caller can hand over exactly what its code path knows.
 */

export const EVENT_TYPES = ["primary", "follow_up", "test", "blocked", "bot"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const ENGAGEMENT_LABELS = ["Cold", "Warm", "Hot", "Very Hot"] as const;
export type EngagementLabel = (typeof ENGAGEMENT_LABELS)[number];

/** Free-text fields of an event (string or null), in CONTRACT §1 order. */
export const STRING_FIELDS = [
  "project", "source", "referer", "cta",
  "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
  "country", "region", "city", "phone_country_code", "lead_id",
] as const;
export type StringField = (typeof STRING_FIELDS)[number];

/** CONTRACT §1: the referer is cut to this many characters (Unicode code points). */
export const REFERER_MAX_CHARS = 500;
/** CONTRACT §1: an event_id is 1..128 characters. */
export const EVENT_ID_MAX_CHARS = 128;

/** What a caller gives: a CONTRACT §1 event where only `event_type` is required. */
export type LeadEventInput = {
  event_id?: string | null;
  event_type: EventType;
  /** ISO 8601 with `Z` or an offset, or a Date; default: now. */
  occurred_at?: string | Date | null;
  engagement_label?: EngagementLabel | string | null;
  /** true/false; 1/0 and yes/no words are read as leadstats reads them. */
  vpn?: boolean | number | string | null;
  /** 0..100 (a numeric string is read as its number). */
  suspicion_score?: number | string | null;
} & { [K in StringField]?: string | null };

/** A complete event as sent to `POST /api/v1/events` and put on a Queue (JSON-safe). */
export type LeadEvent = {
  event_id: string;
  event_type: EventType;
  occurred_at: string;
  engagement_label?: EngagementLabel | null;
  vpn?: boolean | null;
  suspicion_score?: number | null;
} & { [K in StringField]?: string | null };

/** A field of an event is not what CONTRACT §1 allows; `field` names it. */
export class LeadEventError extends TypeError {
  constructor(readonly field: string, message: string) {
    super(`lead event: ${field}: ${message}`);
    this.name = "LeadEventError";
  }
}

const OFFSET_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;
const LABELS = new Map(ENGAGEMENT_LABELS.map((l) => [l.toLowerCase(), l]));

/** `cutChars("ab😀c", 3) === "ab😀"`: cut to code points, never inside a surrogate pair. */
export function cutChars(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = "";
  let n = 0;
  for (const ch of text) {
    if (n++ === max) break;
    out += ch;
  }
  return out;
}

function text(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new LeadEventError(field, `must be a string or null, got ${typeof value}`);
  const trimmed = value.trim();
  return trimmed === "" ? null : trimmed;
}

// The spellings leadstats accepts for a yes/no value (model/schema.py TRUE_WORDS / FALSE_WORDS).
const TRUE_WORDS = new Set(["true", "1", "yes", "t", "y", "1.0"]);
const FALSE_WORDS = new Set(["false", "0", "no", "f", "n", "0.0"]);

/** vpn: a boolean, 1/0, or a yes/no word as leadstats reads them; null when absent or empty. */
function yesNo(value: unknown): boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "boolean") return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === "string") {
    const word = value.trim().toLowerCase();
    if (word === "") return null;
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw new LeadEventError("vpn", `must be true or false, got ${JSON.stringify(value)}`);
}

/** suspicion_score: a number 0..100 (or its decimal text); null when absent or empty. */
function number(value: unknown): number | null {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) return null;
  const score = typeof value === "string" ? Number(value.trim()) : value;
  if (typeof score !== "number" || !Number.isFinite(score) || score < 0 || score > 100) {
    throw new LeadEventError("suspicion_score", `must be a number 0..100, got ${JSON.stringify(value)}`);
  }
  return score;
}

function instant(value: unknown): string {
  if (value === undefined || value === null || value === "") return new Date().toISOString();
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new LeadEventError("occurred_at", "is an invalid Date");
    return value.toISOString();
  }
  if (typeof value !== "string" || !OFFSET_TIME.test(value.trim()) || Number.isNaN(Date.parse(value.trim()))) {
    throw new LeadEventError("occurred_at", `must be ISO 8601 with Z or an offset, got ${JSON.stringify(value)}`);
  }
  const year = new Date(value.trim()).getUTCFullYear();
  if (year < 1970 || year >= 2200) throw new LeadEventError("occurred_at", `is outside 1970..2199: ${value}`);
  return value.trim();
}

/**
 * Check and normalize one event: strings trimmed (empty = null), the referer cut to 500 characters,
 * the engagement label in its contract spelling, `occurred_at` defaulting to now. The `event_id` is
 * kept when given; {@link withEventId} derives it otherwise.
 */
export function normalizeEvent(input: LeadEventInput): Omit<LeadEvent, "event_id"> & { event_id?: string } {
  if (input === null || typeof input !== "object") throw new LeadEventError("record", "is not an object");
  const raw = input.event_type as unknown;
  // As leadstats reads it: any case, `-` for `_` ("Follow-Up" is follow_up).
  const type = (typeof raw === "string" ? raw.trim().toLowerCase().replace(/-/g, "_") : raw) as EventType;
  if (!(EVENT_TYPES as readonly unknown[]).includes(type)) {
    throw new LeadEventError("event_type", `must be one of ${EVENT_TYPES.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  const out: Omit<LeadEvent, "event_id"> & { event_id?: string } = {
    event_type: type,
    occurred_at: instant(input.occurred_at),
  };
  const id = text(input.event_id, "event_id");
  if (id !== null) {
    if (id.length > EVENT_ID_MAX_CHARS) throw new LeadEventError("event_id", `is longer than ${EVENT_ID_MAX_CHARS} characters`);
    out.event_id = id;
  }
  for (const field of STRING_FIELDS) {
    let value = text(input[field], field);
    if (value !== null && field === "referer") value = cutChars(value, REFERER_MAX_CHARS);
    if (value !== null) out[field] = value;
  }
  const label = text(input.engagement_label, "engagement_label");
  if (label !== null) {
    const known = LABELS.get(label.toLowerCase().replace(/[_\s]+/g, " "));
    if (!known) throw new LeadEventError("engagement_label", `must be one of ${ENGAGEMENT_LABELS.join(", ")}, got ${JSON.stringify(label)}`);
    out.engagement_label = known;
  }
  const vpn = yesNo(input.vpn);
  if (vpn !== null) out.vpn = vpn;
  const score = number(input.suspicion_score);
  if (score !== null) out.suspicion_score = score;
  return out;
}

/** The fields, in a fixed order, whose values make up a derived event id. */
const IDENTITY_FIELDS = ["event_type", "occurred_at", ...STRING_FIELDS, "engagement_label", "vpn", "suspicion_score"] as const;

/**
 * `worker:` + the first 32 hex digits of SHA-256 over the event's fields (type, instant, every
 * dimension). The same event object (a retried send, a redelivered Queue message) always gets the
 * same id, so leadstats stores it once. Two submits that differ in nothing, not even the millisecond,
 * would share an id: give an `event_id` (e.g. `d1:LeadSubmissions:<SubmissionId>`) when that can happen.
 */
export async function deriveEventId(event: Omit<LeadEvent, "event_id">): Promise<string> {
  const record = event as Record<string, unknown>;
  const parts = IDENTITY_FIELDS.map((f) => {
    let value = record[f];
    if (f === "occurred_at" && typeof value === "string") value = new Date(value).toISOString();
    return `${f}=${value === undefined || value === null ? "" : String(value)}`;
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\u001f")));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `worker:${hex.slice(0, 32)}`;
}

/** {@link normalizeEvent}, then the given `event_id` or a derived one. */
export async function withEventId(input: LeadEventInput): Promise<LeadEvent> {
  const event = normalizeEvent(input);
  const event_id = event.event_id ?? (await deriveEventId(event));
  return { ...event, event_id };
}
