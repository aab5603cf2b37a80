/**
 * One helper per code path of a lead-capture Worker (the planning document's `lead.ts`): each builds
 * the event that path knows about. With the D1 row id, the `event_id` is the one `leadstats import d1`
 * derives (`d1:<Table>:<Id>`), so an event sent live and the same row imported later count once.
 */

import type { EngagementLabel, LeadEventInput } from "./event.js";

/** What every path knows: where the submit came from (all optional). */
export interface SubmitFields {
  occurred_at?: string | Date | null;
  event_id?: string | null;
  project?: string | null;
  source?: string | null;
  referer?: string | null;
  cta?: string | null;
  utm_source?: string | null;
  utm_medium?: string | null;
  utm_campaign?: string | null;
  utm_term?: string | null;
  utm_content?: string | null;
  country?: string | null;
  region?: string | null;
  city?: string | null;
}

/** An accepted submit also knows the lead (hashed id, never contact data) and its scoring. */
export interface AcceptedFields extends SubmitFields {
  /** true: the lead's first submit (`primary`); false: a later one (`follow_up`). */
  primary: boolean;
  /** `LeadSubmissions.SubmissionId` of the D1 row, when the Worker has it. */
  submissionId?: number | string | null;
  engagement_label?: EngagementLabel | string | null;
  vpn?: LeadEventInput["vpn"];
  suspicion_score?: LeadEventInput["suspicion_score"];
  phone_country_code?: string | null;
  /** An opaque (hashed) lead identity; never a name, e-mail or phone. */
  lead_id?: string | null;
}

function d1Id(table: string, id: number | string | null | undefined, given: string | null | undefined): string | null {
  if (given) return given;
  return id === undefined || id === null || String(id) === "" ? null : `d1:${table}:${id}`;
}

function base(fields: SubmitFields): SubmitFields {
  const { occurred_at, project, source, referer, cta, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    country, region, city } = fields;
  return { occurred_at, project, source, referer, cta, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    country, region, city };
}

/** An accepted submit: `primary` (the lead's first) or `follow_up`; a `LeadSubmissions` row. */
export function acceptedSubmit(fields: AcceptedFields): LeadEventInput {
  return {
    ...base(fields),
    event_type: fields.primary ? "primary" : "follow_up",
    event_id: d1Id("LeadSubmissions", fields.submissionId, fields.event_id),
    engagement_label: fields.engagement_label,
    vpn: fields.vpn,
    suspicion_score: fields.suspicion_score,
    phone_country_code: fields.phone_country_code,
    lead_id: fields.lead_id,
  };
}

/** A submit from a whitelisted test IP (`test`); a `TestingLeads` row. */
export function testSubmit(fields: SubmitFields & { testingLeadId?: number | string | null }): LeadEventInput {
  return { ...base(fields), event_type: "test", event_id: d1Id("TestingLeads", fields.testingLeadId, fields.event_id) };
}

/** A submit from an already blocked IP (`blocked`); a `BlockedIPLeads` row with a reason other than honeypot. */
export function blockedSubmit(fields: SubmitFields & { blockedLeadId?: number | string | null }): LeadEventInput {
  return { ...base(fields), event_type: "blocked", event_id: d1Id("BlockedIPLeads", fields.blockedLeadId, fields.event_id) };
}

/** A submit whose honeypot field was filled (`bot`); a `BlockedIPLeads` row with reason `honeypot`. */
export function botSubmit(fields: SubmitFields & { blockedLeadId?: number | string | null }): LeadEventInput {
  return { ...base(fields), event_type: "bot", event_id: d1Id("BlockedIPLeads", fields.blockedLeadId, fields.event_id) };
}

type FormLike = { get(name: string): unknown } | Record<string, unknown>;

function field(form: FormLike | undefined, name: string): string | null {
  if (!form) return null;
  const value = typeof (form as { get?: unknown }).get === "function"
    ? (form as { get(name: string): unknown }).get(name)
    : (form as Record<string, unknown>)[name];
  return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
}

/**
 * What the request itself tells: the page (`Referer` header, else the form's `referer`), the visitor's
 * geo from `request.cf` (country alpha-2, region, city; else the form's `user_country`, `user_region`,
 * `user_city`), and `cta` and `utm_*` from the form (FormData, URLSearchParams or a plain object).
 */
export function requestFields(request: Request, form?: FormLike): SubmitFields {
  const cf = ((request as { cf?: Record<string, unknown> }).cf ?? {}) as Record<string, unknown>;
  const cfText = (name: string): string | null => (typeof cf[name] === "string" && cf[name] !== "" ? (cf[name] as string) : null);
  return {
    referer: request.headers.get("Referer") ?? field(form, "referer"),
    country: cfText("country") ?? field(form, "user_country"),
    region: cfText("region") ?? field(form, "user_region"),
    city: cfText("city") ?? field(form, "user_city"),
    cta: field(form, "cta"),
    utm_source: field(form, "utm_source"),
    utm_medium: field(form, "utm_medium"),
    utm_campaign: field(form, "utm_campaign"),
    utm_term: field(form, "utm_term"),
    utm_content: field(form, "utm_content"),
  };
}
