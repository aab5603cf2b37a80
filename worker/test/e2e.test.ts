/**
 * End to end: the lead-worker fixture (built on @leadstats/worker) runs in workerd through Miniflare,
 * receives form posts for every event type, writes its data points (to a recording AE binding) and
 * forwards its events through a flaky proxy to a real `leadstats serve` on 127.0.0.1, directly
 * (`ctx.waitUntil`) and through a Queue. Then: the server's report equals what was posted; the
 * failures (429 with Retry-After, 503s, a lost answer, a reset connection) were retried; replaying
 * every delivery adds nothing; and the recorded data points, as an AE SQL API export, give the same
 * report through `leadstats import ae`.
 */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare, aeRecorder, fixture } from "./support/workerd.js";
import { FlakyProxy } from "./support/proxy.js";
import { INGEST_TOKEN, LeadstatsServer, cli, type ReportDoc } from "./support/leadstats.js";

type Kind = "primary" | "follow_up" | "test" | "blocked" | "bot";

interface Post {
  kind: Kind; // what the Worker must make of it
  ip: string;
  form: Record<string, string>;
  cf?: { country?: string; city?: string; region?: string };
  referer?: string;
}

const TEST_IP = "192.0.2.10";
const STATIC_BLOCKED_IP = "192.0.2.66";
const LONG_REFERER = `https://skyline.example/landing?${"q=1&".repeat(200)}`;

const DIRECT: Post[] = [
  { kind: "primary", ip: "198.51.100.1", cf: { country: "IN", city: "Pune", region: "Maharashtra" },
    referer: "https://skyline.example/pricing",
    form: { project: "Skyline", source: "google", cta: "hero", phone: "+91 98000 00001", phone_country_code: "+91",
      utm_source: "google", utm_medium: "cpc", utm_campaign: "spring", engagement_label: "Hot", vpn: "1", suspicion_score: "55" } },
  { kind: "follow_up", ip: "198.51.100.1", cf: { country: "IN", city: "Pune", region: "Maharashtra" },
    form: { project: "Skyline", source: "google", cta: "footer", phone: "+91 98000 00001", phone_country_code: "+91",
      utm_source: "google", utm_campaign: "spring", engagement_label: "Hot" } },
  { kind: "primary", ip: "198.51.100.2", cf: { country: "US", city: "Austin", region: "Texas" },
    form: { project: "Harbor", source: "meta", cta: "hero", phone: "+1 512 000 0002", phone_country_code: "+1",
      utm_source: "facebook", utm_medium: "paid_social", engagement_label: "Cold", vpn: "0", suspicion_score: "10" } },
  { kind: "primary", ip: "198.51.100.3", cf: { country: "IN", city: "Mumbai", region: "Maharashtra" }, referer: LONG_REFERER,
    form: { project: "Skyline", source: "google", cta: "sticky", phone: "+91 98000 00003", phone_country_code: "+91",
      engagement_label: "very hot", suspicion_score: "80" } },
  { kind: "test", ip: TEST_IP, cf: { country: "IN", city: "Pune", region: "Maharashtra" },
    form: { project: "Skyline", source: "google", cta: "hero", phone: "+91 90000 00000" } },
  { kind: "test", ip: TEST_IP, form: { project: "Harbor", source: "direct", user_country: "IN", user_city: "Delhi" } },
  { kind: "bot", ip: "203.0.113.9", cf: { country: "RU" }, form: { project: "Skyline", source: "google", website: "http://spam.example" } },
  { kind: "blocked", ip: "203.0.113.9", cf: { country: "RU" }, form: { project: "Skyline", source: "google", cta: "hero" } },
  { kind: "blocked", ip: STATIC_BLOCKED_IP, cf: { country: "CN" }, form: { project: "Harbor", source: "meta" } },
  { kind: "follow_up", ip: "198.51.100.2", cf: { country: "US", city: "Austin", region: "Texas" },
    form: { project: "Harbor", source: "meta", cta: "pricing", phone: "+1 512 000 0002", phone_country_code: "+1", engagement_label: "Warm" } },
];

const QUEUED: Post[] = [
  { kind: "primary", ip: "198.51.100.20", cf: { country: "AE", city: "Dubai", region: "Dubai" },
    form: { project: "Queue Park", source: "google", cta: "hero", phone: "+971 50 000 0001", phone_country_code: "+971",
      engagement_label: "Hot", vpn: "1", suspicion_score: "45" } },
  { kind: "follow_up", ip: "198.51.100.20", cf: { country: "AE", city: "Dubai", region: "Dubai" },
    form: { project: "Queue Park", source: "google", cta: "hero", phone: "+971 50 000 0001", phone_country_code: "+971" } },
  { kind: "test", ip: TEST_IP, form: { project: "Queue Park", source: "direct" } },
  { kind: "bot", ip: "203.0.113.50", form: { project: "Queue Park", website: "x" } },
  { kind: "blocked", ip: "203.0.113.50", form: { project: "Queue Park" } },
];

const DIMENSIONS = [
  "event_type", "project", "source", "cta", "country", "city", "region", "utm_source", "utm_medium", "utm_campaign",
  "engagement_label", "phone_country_code", "referer",
];

let server: LeadstatsServer;
let directProxy: FlakyProxy;
let queueProxy: FlakyProxy;
let mf: Miniflare;
let tmp: string;

function today(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}
const WINDOW = () => ({ from: today(-1), to: today(2), tz: "UTC" });

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "leadstats-worker-e2e-"));
  server = await new LeadstatsServer().start();
  directProxy = await new FlakyProxy(server.url).start();
  queueProxy = await new FlakyProxy(server.url).start();
  const vars = { LEADSTATS_TOKEN: INGEST_TOKEN, TEST_IPS: `${TEST_IP}, 192.0.2.11`, BLOCKED_IPS: STATIC_BLOCKED_IP };
  mf = new Miniflare({
    workers: [
      fixture("lead-worker-direct", {
        bindings: { ...vars, LEADSTATS_URL: directProxy.url },
        wrappedBindings: { LEAD_SUBMISSIONS: { scriptName: "ae-recorder" } },
      }),
      fixture("lead-worker-queued", {
        bindings: { ...vars, LEADSTATS_URL: queueProxy.url, ID_BASE: "1000" },
        wrappedBindings: { LEAD_SUBMISSIONS: { scriptName: "ae-recorder" } },
        queueProducers: { LEAD_EVENTS: "lead-events" },
        queueConsumers: { "lead-events": { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 10, retryDelay: 0 } },
      }),
      aeRecorder(),
    ],
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await directProxy?.stop();
  await queueProxy?.stop();
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Fetcher = { fetch(url: string, init?: unknown): Promise<{ status: number; text(): Promise<string>; json(): Promise<unknown> }> };

async function worker(name: string): Promise<Fetcher> {
  return (await mf.getWorker(name)) as unknown as Fetcher;
}

async function send(name: string, post: Post): Promise<void> {
  const fetcher = await worker(name);
  const headers: Record<string, string> = { "CF-Connecting-IP": post.ip };
  if (post.referer) headers.Referer = post.referer;
  const res = await fetcher.fetch("http://lead.example/lead", {
    method: "POST",
    headers,
    body: new URLSearchParams(post.form),
    cf: post.cf ?? {},
  });
  assert.equal(res.status, 200, await res.text());
}

function expectedTotals(posts: Post[]): Record<string, number> {
  const out: Record<string, number> = { received: 0, submissions: 0, primary: 0, follow_up: 0, test: 0, blocked: 0, bot: 0, vpn: 0, suspicious: 0, hot: 0 };
  for (const p of posts) {
    out.received += 1;
    out[p.kind] += 1;
    if (p.kind === "primary" || p.kind === "follow_up") out.submissions += 1;
    if (p.kind === "primary") {
      if (p.form.vpn === "1") out.vpn += 1;
      if (Number(p.form.suspicion_score ?? 0) >= 40) out.suspicious += 1;
      if (/^(hot|very hot)$/i.test(p.form.engagement_label ?? "")) out.hot += 1;
    }
  }
  return out;
}

/** Every planned fault was hit, and every request that met one was later sent again and passed. */
function settled(proxy: FlakyProxy): boolean {
  if (proxy.plan.length > 0) return false;
  return proxy.log.every((l, i) => l.what === "pass" || proxy.log.slice(i + 1).some((m) => m.what === "pass" && m.body === l.body));
}

/** Poll (bounded) until leadstats holds `n` events and both proxies have settled. */
async function waitForDeliveries(n: number, timeoutMs = 120_000): Promise<ReportDoc> {
  const deadline = Date.now() + timeoutMs;
  let last: ReportDoc | null = null;
  while (Date.now() < deadline) {
    last = await server.report(WINDOW());
    if (last.totals.received >= n && settled(directProxy) && settled(queueProxy)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  const requests = (proxy: FlakyProxy): string => JSON.stringify(proxy.log.map((l) => [l.what, l.body.length]));
  throw new Error(`leadstats has ${last?.totals.received} events, expected ${n}; direct requests ${requests(directProxy)};`
    + ` queue requests ${requests(queueProxy)}\n${server.tail()}`);
}

function withoutMeta(doc: ReportDoc): unknown {
  return { rows: doc.rows, totals: doc.totals };
}

interface Recorded { timestamp: string; blobs: string[]; doubles: number[]; indexes: string[] }

/** The data points as the AE SQL API's `FORMAT JSON` answer to `SELECT * FROM lead_submissions`. */
function aeExport(points: Recorded[]): string {
  const columns = ["timestamp", "index1", "_sample_interval", ...Array.from({ length: 20 }, (_, i) => `blob${i + 1}`),
    ...Array.from({ length: 20 }, (_, i) => `double${i + 1}`)];
  const data = points.map((p) => {
    const row: Record<string, unknown> = {
      timestamp: p.timestamp.slice(0, 19).replace("T", " "),
      index1: p.indexes[0] ?? "",
      _sample_interval: "1", // AE quotes 64-bit integers
    };
    for (let i = 0; i < 20; i++) row[`blob${i + 1}`] = p.blobs[i] ?? "";
    for (let i = 0; i < 20; i++) row[`double${i + 1}`] = p.doubles[i] ?? 0;
    return row;
  });
  const meta = columns.map((name) => ({
    name, type: name.startsWith("double") ? "Float64" : name === "_sample_interval" ? "UInt32" : name === "timestamp" ? "DateTime" : "String",
  }));
  return JSON.stringify({ meta, data, rows: data.length, rows_before_limit_at_least: data.length });
}

test("every event type, forwarded with retries, equals the posts in leadstats and in the AE export", async (t) => {
  // Faults for the direct path (one request each, in arrival order).
  directProxy.plan.push("429", "503-after-store", "reset", "503");
  // The queue consumer tries twice per delivery: the first delivery fails (its first try was stored
  // but the answer lost), so the Queue redelivers the batch, whose first try fails again.
  queueProxy.plan.push("503-after-store", "503", "503");

  for (const post of DIRECT) await send("lead-worker-direct", post);
  for (const post of QUEUED) await send("lead-worker-queued", post);
  const all = [...DIRECT, ...QUEUED];
  const doc = await waitForDeliveries(all.length);

  await t.test("the report equals what was posted", async () => {
    assert.deepEqual(doc.totals, expectedTotals(all));
    const byProject = await server.report({ ...WINDOW(), by: "project,event_type" });
    const counts = new Map<string, number>();
    for (const p of all) counts.set(`${p.form.project}|${p.kind}`, (counts.get(`${p.form.project}|${p.kind}`) ?? 0) + 1);
    assert.deepEqual(
      new Map(byProject.rows.map((r) => [`${r.project}|${r.event_type}`, r.received as number])),
      counts,
    );
    const geo = await server.report({ ...WINDOW(), by: "country,city", filter: "event_type=primary,follow_up" });
    const city = new Map(geo.rows.map((r) => [`${r.country}|${r.city}`, r.received]));
    assert.equal(city.get("IN|Pune"), 2);
    assert.equal(city.get("US|Austin"), 2);
    assert.equal(city.get("AE|Dubai"), 2);
    const refs = await server.report({ ...WINDOW(), by: "referer", filter: "project=Skyline" });
    const long = refs.rows.find((r) => typeof r.referer === "string" && r.referer.startsWith("https://skyline.example/landing"));
    assert.equal((long?.referer as string).length, 500, "referer cut to 500 characters");
  });

  await t.test("429 (after Retry-After), 503, a lost answer and a reset connection were retried", async () => {
    assert.deepEqual(directProxy.plan, [], "every planned fault was hit");
    assert.deepEqual(queueProxy.plan, []);
    const whats = directProxy.log.map((l) => l.what);
    for (const fault of ["429", "503-after-store", "reset", "503"]) assert.ok(whats.includes(fault), fault);
    const i429 = directProxy.log.findIndex((l) => l.what === "429");
    const retry = directProxy.log.slice(i429 + 1).find((l) => l.body === directProxy.log[i429].body);
    assert.ok(retry, "the request refused with 429 was sent again");
    assert.ok(retry.at - directProxy.log[i429].at >= 950, `retried after ${retry.at - directProxy.log[i429].at} ms, Retry-After is 1 s`);
    // Queue: the consumer tries twice per delivery (attempts: 2), so a body sent 3 times or more was
    // redelivered by the Queue after retryAll; the first try was stored with its answer lost.
    assert.deepEqual(queueProxy.log.slice(0, 3).map((l) => l.what), ["503-after-store", "503", "503"]);
    const sends = new Map<string, number>();
    for (const l of queueProxy.log) sends.set(l.body, (sends.get(l.body) ?? 0) + 1);
    assert.ok(Math.max(...sends.values()) >= 3, "a batch was redelivered");
    const ids = new Set(queueProxy.log.flatMap((l) => (JSON.parse(l.body) as { event_id: string }[]).map((e) => e.event_id)));
    assert.equal(ids.size, QUEUED.length, "redeliveries carry the same event_ids");
  });

  await t.test("replaying every delivery adds nothing", async () => {
    const bodies = [...directProxy.log, ...queueProxy.log].map((l) => l.body);
    let accepted = 0;
    let duplicates = 0;
    for (const body of bodies) {
      const res = await fetch(`${server.url}/api/v1/events`, {
        method: "POST", body, headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "application/json" },
      });
      assert.equal(res.status, 200);
      const answer = (await res.json()) as { accepted: number; duplicates: number; rejected: unknown[] };
      assert.deepEqual(answer.rejected, []);
      accepted += answer.accepted;
      duplicates += answer.duplicates;
    }
    assert.equal(accepted, 0);
    assert.ok(duplicates >= all.length);
    assert.deepEqual(withoutMeta(await server.report(WINDOW())), withoutMeta(doc));
  });

  await t.test("the data points, imported as an AE export, give the same report", async () => {
    const points: Recorded[] = [];
    for (const name of ["lead-worker-direct", "lead-worker-queued"]) {
      const res = await (await worker(name)).fetch("http://lead.example/__datapoints");
      points.push(...((await res.json()) as Recorded[]));
    }
    assert.equal(points.length, all.length, "one data point per received submit, none for retries");
    for (const p of points) {
      assert.equal(p.blobs.length, 20);
      assert.ok(["primary", "follow_up", "test", "blocked", "bot"].includes(p.blobs[19]));
    }
    const file = path.join(tmp, "lead_submissions.json");
    writeFileSync(file, aeExport(points));
    const db = path.join(tmp, "ae.duckdb");
    const imported = await cli(["import", "ae", file, "--db", db]);
    assert.match(imported, new RegExp(`imported ${all.length} rows`), imported);
    for (const by of [null, DIMENSIONS.join(","), "project,event_type", "country,city,region"]) {
      const params = { ...WINDOW(), ...(by ? { by } : {}) };
      const fromServer = await server.report(params);
      const args = ["report", "--from", params.from, "--to", params.to, "--tz", "UTC", "--format", "json", "--db", db];
      if (by) args.push("--by", by);
      const fromAe = JSON.parse(await cli(args)) as ReportDoc;
      assert.deepEqual(withoutMeta(fromAe), withoutMeta(fromServer), `by ${by}`);
    }
  });
});
