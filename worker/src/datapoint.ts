/**
 * CONTRACT §5: one lead event as one Workers Analytics Engine data point in `lead_submissions`.
 *
 * | field | column |                      | field | column |
 * |---|---|---|---|---|
 * | project | blob1 (and index1) |         | utm_source .. utm_content | blob10 .. blob14 |
 * | source | blob2 |                      | engagement_label | blob15 |
 * | referer | blob3 (500 chars) |          | country, city, region | blob16, blob17, blob18 |
 * | cta | blob4 |                          | event_type | blob20 |
 * | "1" primary / "0" follow-up | blob5 |  | suspicion_score | double2 |
 * | phone_country_code | blob6 |           | vpn (0/1) | double8 |
 *
 * An empty blob is a null value; AE has no null number, so an absent score or vpn is 0. The timestamp
 * is the moment of the write (a Worker cannot set it). `lead_id` is not written: AE rows are read by
 * anyone with account analytics access, and index1 is the project (the sampling key).
 */

import { normalizeEvent, type LeadEvent, type LeadEventInput } from "./event.js";

/** Limits of Workers Analytics Engine (developers.cloudflare.com/analytics/analytics-engine/limits/). */
export const AE_LIMITS = {
  blobs: 20,
  doubles: 20,
  indexes: 1,
  /** Total UTF-8 bytes of all blobs of one data point (16 KB since June 2025; was 5,120 bytes). */
  blobBytes: 16 * 1024,
  /** UTF-8 bytes of the index. */
  indexBytes: 96,
  /** writeDataPoint calls per Worker invocation. */
  dataPointsPerInvocation: 250,
} as const;

/** The shape `AnalyticsEngineDataset.writeDataPoint` takes. */
export interface AnalyticsEngineDataPoint {
  blobs?: (string | ArrayBuffer | null)[];
  doubles?: number[];
  indexes?: (string | ArrayBuffer | null)[];
}

/** An Analytics Engine dataset binding (`[[analytics_engine_datasets]]` in wrangler.toml). */
export interface AnalyticsEngineDatasetLike {
  writeDataPoint(point?: AnalyticsEngineDataPoint): void;
}

/** What {@link toDataPoint} returns: always 20 blobs, 8 doubles, 1 index. */
export interface LeadDataPoint {
  blobs: string[];
  doubles: number[];
  indexes: string[];
}

/** CONTRACT §5 blob positions (1-based, as the SQL API names them). */
export const BLOB_COLUMNS = {
  project: 1,
  source: 2,
  referer: 3,
  cta: 4,
  primary_flag: 5,
  phone_country_code: 6,
  utm_source: 10,
  utm_medium: 11,
  utm_campaign: 12,
  utm_term: 13,
  utm_content: 14,
  engagement_label: 15,
  country: 16,
  city: 17,
  region: 18,
  event_type: 20,
} as const;
/** CONTRACT §5 double positions (1-based). */
export const DOUBLE_COLUMNS = { suspicion_score: 2, vpn: 8 } as const;

const encoder = new TextEncoder();

/** UTF-8 length of a string. */
export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

/** The longest prefix of `text` within `maxBytes` UTF-8 bytes, never cutting a character. */
export function cutBytes(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || utf8Bytes(text) <= maxBytes) return text;
  let out = "";
  let used = 0;
  for (const ch of text) {
    const size = utf8Bytes(ch);
    if (used + size > maxBytes) break;
    out += ch;
    used += size;
  }
  return out;
}

/**
 * Shrink blobs until their total is within `maxBytes`, cutting the longest blob first, so that short
 * dimensions (type, flag, country) are never touched before a long one (a referer) is.
 */
function fitBlobs(blobs: string[], maxBytes: number): string[] {
  const sizes = blobs.map(utf8Bytes);
  let total = sizes.reduce((a, b) => a + b, 0);
  while (total > maxBytes) {
    let longest = 0;
    for (let i = 1; i < sizes.length; i++) if (sizes[i] > sizes[longest]) longest = i;
    const keep = Math.max(0, sizes[longest] - (total - maxBytes));
    blobs[longest] = cutBytes(blobs[longest], keep);
    const size = utf8Bytes(blobs[longest]);
    total -= sizes[longest] - size;
    sizes[longest] = size;
  }
  return blobs;
}

/**
 * The CONTRACT §5 data point of one event (the event is normalized first, like the server does).
 *
 * @example
 * toDataPoint({ event_type: "primary", project: "Skyline", country: "IN", vpn: true, suspicion_score: 55 })
 * // blobs[0] "Skyline", blobs[4] "1", blobs[15] "IN", blobs[19] "primary"; doubles [0, 55, 0, 0, 0, 0, 0, 1]; indexes ["Skyline"]
 */
export function toDataPoint(input: LeadEventInput | LeadEvent): LeadDataPoint {
  const event = normalizeEvent(input);
  const blobs: string[] = new Array<string>(AE_LIMITS.blobs).fill("");
  const put = (column: number, value: string | null | undefined): void => {
    blobs[column - 1] = value ?? "";
  };
  put(BLOB_COLUMNS.project, event.project);
  put(BLOB_COLUMNS.source, event.source);
  put(BLOB_COLUMNS.referer, event.referer);
  put(BLOB_COLUMNS.cta, event.cta);
  put(BLOB_COLUMNS.primary_flag,
    event.event_type === "primary" ? "1" : event.event_type === "follow_up" ? "0" : "");
  put(BLOB_COLUMNS.phone_country_code, event.phone_country_code);
  put(BLOB_COLUMNS.utm_source, event.utm_source);
  put(BLOB_COLUMNS.utm_medium, event.utm_medium);
  put(BLOB_COLUMNS.utm_campaign, event.utm_campaign);
  put(BLOB_COLUMNS.utm_term, event.utm_term);
  put(BLOB_COLUMNS.utm_content, event.utm_content);
  put(BLOB_COLUMNS.engagement_label, event.engagement_label);
  put(BLOB_COLUMNS.country, event.country);
  put(BLOB_COLUMNS.city, event.city);
  put(BLOB_COLUMNS.region, event.region);
  put(BLOB_COLUMNS.event_type, event.event_type);

  const doubles: number[] = new Array<number>(DOUBLE_COLUMNS.vpn).fill(0);
  doubles[DOUBLE_COLUMNS.suspicion_score - 1] = event.suspicion_score ?? 0;
  doubles[DOUBLE_COLUMNS.vpn - 1] = event.vpn ? 1 : 0;

  return {
    blobs: fitBlobs(blobs, AE_LIMITS.blobBytes),
    doubles,
    indexes: [cutBytes(event.project ?? "", AE_LIMITS.indexBytes)],
  };
}
