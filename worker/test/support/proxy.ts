/**
 * A flaky HTTP proxy on 127.0.0.1 in front of leadstats: each request takes the next planned fault
 * (then passes once the plan is used up), so a test decides exactly which requests fail and how.
 */

import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export type Fault =
  /** 429 with `Retry-After: 1`, not forwarded. */
  | "429"
  /** 503, not forwarded. */
  | "503"
  /** Forwarded and stored by leadstats, then the answer is replaced by a 503 (a lost answer). */
  | "503-after-store"
  /** The connection is closed without an answer (a network error), not forwarded. */
  | "reset";

export class FlakyProxy {
  readonly plan: Fault[] = [];
  /** Each request in order: what happened to it ("pass" or the fault), its body, when it came (ms). */
  readonly log: { what: string; body: string; at: number }[] = [];
  url = "";
  private server: Server | null = null;

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    return this;
  }

  private async forward(req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const target = new URL(req.url ?? "/", this.target);
    return new Promise((resolve, reject) => {
      const out = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({
          status: res.statusCode ?? 502,
          headers: { "content-type": String(res.headers["content-type"] ?? "application/json") },
          body: Buffer.concat(chunks),
        }));
      });
      out.on("error", reject);
      out.end(body);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const fault = this.plan.shift();
    this.log.push({ what: fault ?? "pass", body: body.toString("utf8"), at: Date.now() });
    const json = (status: number, code: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify({ error: { code, message: `flaky proxy: ${status}`, field: null } }));
    };
    try {
      if (fault === "429") return json(429, "rate_limited", { "retry-after": "1" });
      if (fault === "503") return json(503, "store_error");
      if (fault === "reset") {
        req.socket.destroy();
        return;
      }
      const answer = await this.forward(req, body);
      if (fault === "503-after-store") return json(503, "store_error");
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } catch (err) {
      json(502, "bad_gateway");
      console.error("proxy:", err);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
