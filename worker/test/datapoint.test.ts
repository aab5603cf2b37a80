/**
 * Unit tests of the module, evaluated inside workerd (the unit-worker fixture runs each function and
 * answers JSON); the expectations are CONTRACT §5's table, written out here independently.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Miniflare, aeRecorder, fixture } from "./support/workerd.js";

let mf: Miniflare;

before(async () => {
  mf = new Miniflare({
    workers: [fixture("unit-worker", { wrappedBindings: { DATASET: { scriptName: "ae-recorder" } } }), aeRecorder()],
  });
  await mf.ready;
});
after(async () => {
  await mf?.dispose();
});

type Answer = { ok?: any; error?: { name: string; message: string; field: string | null } };

async function call(fn: string, ...args: unknown[]): Promise<Answer> {
  const res = await mf.dispatchFetch("http://unit/call", { method: "POST", body: JSON.stringify({ fn, args }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Answer;
}

async function ok(fn: string, ...args: unknown[]): Promise<any> {
  const answer = await call(fn, ...args);
  assert.equal(answer.error, undefined, JSON.stringify(answer.error));
  return answer.ok;
}

/** CONTRACT §5: field -> 1-based blob. */
const BLOB = {
  project: 1, source: 2, referer: 3, cta: 4, primary_flag: 5, phone_country_code: 6,
  utm_source: 10, utm_medium: 11, utm_campaign: 12, utm_term: 13, utm_content: 14,
  engagement_label: 15, country: 16, city: 17, region: 18, event_type: 20,
} as const;

const FULL = {
  event_id: "d1:LeadSubmissions:81723",
  event_type: "primary",
  occurred_at: "2026-03-07T10:12:00+05:30",
  project: "Skyline", source: "google", referer: "https://skyline.example/pricing", cta: "hero",
  utm_source: "google", utm_medium: "cpc", utm_campaign: "spring", utm_term: "2bhk", utm_content: "ad-7",
  engagement_label: "Hot", vpn: true, suspicion_score: 55,
  country: "IN", region: "Maharashtra", city: "Pune", phone_country_code: "+91", lead_id: "a1b2c3",
};

const blob = (point: { blobs: string[] }, column: number): string => point.blobs[column - 1];

describe("toDataPoint follows CONTRACT §5", () => {
  test("every mapped field lands in its column", async () => {
    const point = await ok("toDataPoint", FULL);
    assert.equal(point.blobs.length, 20, "blob1..blob20, no blob21");
    for (const [field, column] of Object.entries(BLOB)) {
      if (field === "primary_flag") continue;
      assert.equal(blob(point, column), (FULL as Record<string, unknown>)[field], `${field} -> blob${column}`);
    }
    assert.equal(blob(point, BLOB.primary_flag), "1");
    for (const unused of [7, 8, 9, 19]) assert.equal(blob(point, unused), "", `blob${unused} is unused`);
    assert.equal(point.doubles[1], 55, "suspicion_score -> double2");
    assert.equal(point.doubles[7], 1, "vpn -> double8");
    assert.deepEqual(point.doubles.filter((_: number, i: number) => i !== 1 && i !== 7), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(point.indexes, ["Skyline"], "index1 is the project");
    assert.ok(!point.blobs.includes("a1b2c3"), "lead_id is not written to AE");
  });

  test("blob5 is 1/0 for accepted submits and empty for the other types; blob20 is the type", async () => {
    for (const [type, flag] of [["primary", "1"], ["follow_up", "0"], ["test", ""], ["blocked", ""], ["bot", ""]]) {
      const point = await ok("toDataPoint", { event_type: type });
      assert.equal(blob(point, BLOB.primary_flag), flag, type);
      assert.equal(blob(point, BLOB.event_type), type, type);
    }
  });

  test("absent fields are empty blobs and zero doubles", async () => {
    const point = await ok("toDataPoint", { event_type: "bot", project: null, vpn: null, suspicion_score: null, city: "  " });
    assert.deepEqual(point.blobs.filter((b: string) => b !== ""), ["bot"]);
    assert.deepEqual(point.doubles, [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(point.indexes, [""]);
    const noVpn = await ok("toDataPoint", { event_type: "primary", vpn: false, suspicion_score: 0 });
    assert.equal(noVpn.doubles[7], 0);
  });

  test("the referer is cut to 500 characters (code points, never half an emoji)", async () => {
    const referer = "https://x.example/" + "😀".repeat(600);
    const point = await ok("toDataPoint", { event_type: "primary", referer });
    const cut = blob(point, BLOB.referer);
    assert.equal(Array.from(cut).length, 500);
    assert.ok(referer.startsWith(cut));
    const short = await ok("toDataPoint", { event_type: "primary", referer: "https://x.example/a" });
    assert.equal(blob(short, BLOB.referer), "https://x.example/a");
  });

  test("index1 is at most 96 bytes, cut on a character boundary; blob1 keeps the whole project", async () => {
    const project = "प्रोजेक्ट".repeat(10); // 3-byte characters
    const point = await ok("toDataPoint", { event_type: "primary", project });
    const index = point.indexes[0] as string;
    assert.ok(Buffer.byteLength(index) <= 96 && Buffer.byteLength(index) > 90, String(Buffer.byteLength(index)));
    assert.ok(project.startsWith(index));
    assert.equal(blob(point, BLOB.project), project);
  });

  test("all blobs together stay within 16 KB, the longest cut first", async () => {
    const big = "é".repeat(6000); // 12,000 bytes each
    const point = await ok("toDataPoint", {
      event_type: "follow_up", project: big, source: big, cta: "hero", country: "IN", utm_campaign: "x".repeat(3000),
    });
    const total = point.blobs.reduce((n: number, b: string) => n + Buffer.byteLength(b), 0);
    assert.ok(total <= 16 * 1024, `total ${total}`);
    assert.ok(total > 16 * 1024 - 4, `total ${total} uses the room`);
    assert.equal(blob(point, BLOB.cta), "hero");
    assert.equal(blob(point, BLOB.country), "IN");
    assert.equal(blob(point, BLOB.event_type), "follow_up");
    assert.equal(blob(point, BLOB.primary_flag), "0");
  });

  test("labels take the contract spelling; bad fields are refused with the field named", async () => {
    const point = await ok("toDataPoint", { event_type: "primary", engagement_label: "very hot" });
    assert.equal(blob(point, BLOB.engagement_label), "Very Hot");
    const snake = await ok("toDataPoint", { event_type: "primary", engagement_label: "VERY_HOT", vpn: "yes", suspicion_score: "62.5" });
    assert.equal(blob(snake, BLOB.engagement_label), "Very Hot");
    assert.deepEqual([snake.doubles[1], snake.doubles[7]], [62.5, 1], "yes/no words and numeric text, as leadstats reads them");
    const event = await ok("normalizeEvent", { event_type: "primary", vpn: 0, suspicion_score: "40" });
    assert.deepEqual([event.vpn, event.suspicion_score], [false, 40]);
    const dashed = await ok("toDataPoint", { event_type: "Follow-Up" });
    assert.deepEqual([blob(dashed, BLOB.event_type), blob(dashed, BLOB.primary_flag)], ["follow_up", "0"]);
    const cases: [Record<string, unknown>, string][] = [
      [{ event_type: "lead" }, "event_type"],
      [{ event_type: "primary", engagement_label: "Lukewarm" }, "engagement_label"],
      [{ event_type: "primary", occurred_at: "2026-03-07T10:12:00" }, "occurred_at"],
      [{ event_type: "primary", occurred_at: "1969-12-31T23:59:59Z" }, "occurred_at"],
      [{ event_type: "primary", suspicion_score: 101 }, "suspicion_score"],
      [{ event_type: "primary", vpn: "maybe" }, "vpn"],
      [{ event_type: "primary", vpn: 2 }, "vpn"],
      [{ event_type: "primary", suspicion_score: "high" }, "suspicion_score"],
      [{ event_type: "primary", project: 7 }, "project"],
      [{ event_type: "primary", event_id: "x".repeat(129) }, "event_id"],
    ];
    for (const [event, field] of cases) {
      const answer = await call("toDataPoint", event);
      assert.equal(answer.error?.name, "LeadEventError", JSON.stringify(event));
      assert.equal(answer.error?.field, field, JSON.stringify(event));
    }
  });
});

describe("event ids", () => {
  test("a given event_id is kept", async () => {
    const event = await ok("withEventId", FULL);
    assert.equal(event.event_id, "d1:LeadSubmissions:81723");
  });

  test("a derived event_id is stable for the same event and differs for another", async () => {
    const { event_id: _, ...anonymous } = FULL;
    const a = await ok("withEventId", anonymous);
    const b = await ok("withEventId", { ...anonymous, occurred_at: "2026-03-07T04:42:00Z" }); // same instant
    const c = await ok("withEventId", { ...anonymous, city: "Mumbai" });
    assert.match(a.event_id, /^worker:[0-9a-f]{32}$/);
    assert.equal(a.event_id, b.event_id);
    assert.notEqual(a.event_id, c.event_id);
    assert.equal(a.occurred_at, "2026-03-07T10:12:00+05:30");
  });

  test("occurred_at defaults to now, as an ISO instant in UTC", async () => {
    const before = Date.now();
    const event = await ok("withEventId", { event_type: "bot" });
    assert.match(event.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(event.occurred_at) - before) < 60_000);
  });
});

describe("path helpers", () => {
  test("each path gives its type and the D1 import's event id", async () => {
    const primary = await ok("acceptedSubmit", { primary: true, submissionId: 7, project: "Skyline", vpn: true, suspicion_score: 40 });
    assert.deepEqual([primary.event_type, primary.event_id, primary.vpn, primary.suspicion_score], ["primary", "d1:LeadSubmissions:7", true, 40]);
    const follow = await ok("acceptedSubmit", { primary: false, submissionId: 8 });
    assert.deepEqual([follow.event_type, follow.event_id], ["follow_up", "d1:LeadSubmissions:8"]);
    const testing = await ok("testSubmit", { testingLeadId: 3, project: "Skyline" });
    assert.deepEqual([testing.event_type, testing.event_id, testing.project], ["test", "d1:TestingLeads:3", "Skyline"]);
    const blocked = await ok("blockedSubmit", { blockedLeadId: 4 });
    assert.deepEqual([blocked.event_type, blocked.event_id], ["blocked", "d1:BlockedIPLeads:4"]);
    const bot = await ok("botSubmit", { blockedLeadId: 5, vpn: true });
    assert.deepEqual([bot.event_type, bot.event_id, bot.vpn], ["bot", "d1:BlockedIPLeads:5", undefined]);
    const noId = await ok("testSubmit", { project: "Skyline" });
    assert.equal(noId.event_id, null);
  });
});

describe("forwarding helpers", () => {
  test("events are sent in requests of at most 1,000", async () => {
    const events = Array.from({ length: 2500 }, (_, i) => ({ event_id: `e${i}`, event_type: "bot", occurred_at: "2026-03-07T04:42:00Z" }));
    assert.deepEqual(await ok("chunkEvents", events), [
      { start: 0, count: 1000 }, { start: 1000, count: 1000 }, { start: 2000, count: 500 },
    ]);
  });

  test("Retry-After is read as seconds or an HTTP date", async () => {
    assert.equal(await ok("retryAfterSeconds", "3"), 3);
    assert.equal(await ok("retryAfterSeconds", "Sat, 07 Mar 2026 10:00:05 GMT", Date.parse("2026-03-07T10:00:00Z")), 5);
    assert.equal(await ok("retryAfterSeconds", null), null);
  });

  test("network errors and 5xx are retried; other 4xx are not; tries are bounded", async () => {
    const run = async (statuses: number[]): Promise<any> => {
      const res = await mf.dispatchFetch("http://unit/forward", { method: "POST", body: JSON.stringify({ fn: "forward", args: [statuses] }) });
      return ((await res.json()) as Answer).ok;
    };
    const healed = await run([0, 503, 502]);
    assert.equal(healed.calls, 4);
    assert.deepEqual([healed.result.accepted, healed.result.attempts], [1, 4]);
    assert.deepEqual(await run([401]), { calls: 1, error: { status: 401, retryable: false } });
    assert.deepEqual(await run([503, 422]), { calls: 2, error: { status: 422, retryable: false } });
    assert.deepEqual(await run([503, 503, 503, 500]), { calls: 4, error: { status: 500, retryable: true } });
  });

  test("the queue consumer sends up to 1,000 events per request, acks what was stored, retries the rest", async () => {
    const run = async (c: Record<string, unknown>): Promise<any> => {
      const res = await mf.dispatchFetch("http://unit/consume", { method: "POST", body: JSON.stringify({ fn: "consume", args: [c] }) });
      const answer = (await res.json()) as Answer;
      assert.equal(answer.error, undefined, JSON.stringify(answer.error));
      return answer.ok;
    };
    // 5 messages of 400 events: requests of 800, 800, 400 (a message is never split); the 2nd fails.
    const partial = await run({ messages: 5, eventsPerMessage: 400, fail: [1] });
    assert.deepEqual(partial.sizes, [800, 800, 400]);
    assert.deepEqual(partial.log, ["ack m0", "ack m1", "ack m4", "retry m2 7", "retry m3 7"]);
    assert.deepEqual([partial.result.acked, partial.result.retried, partial.result.accepted], [3, 2, 1200]);
    // Everything fails with 429: the whole batch is retried after the server's Retry-After.
    const down = await run({ messages: 2, eventsPerMessage: 3, fail: "all", retryAfter: "12" });
    assert.deepEqual(down.sizes, [6]);
    assert.deepEqual(down.log, ["retryAll 12"]);
    // All stored: every message acked.
    const fine = await run({ messages: 3, eventsPerMessage: 1, fail: [] });
    assert.deepEqual(fine.log, ["ack m0", "ack m1", "ack m2"]);
  });

  test("recordLeadEvent writes the data point to the dataset binding inside workerd", async () => {
    const res = await mf.dispatchFetch("http://unit/record", {
      method: "POST", body: JSON.stringify({ fn: "record", args: [{ event_type: "test", project: "Skyline" }] }),
    });
    const answer = (await res.json()) as Answer;
    assert.equal(answer.ok.written, true);
    assert.deepEqual(answer.ok.delivery, { kind: "none" });
    assert.match(answer.ok.event.event_id, /^worker:/);
  });
});
