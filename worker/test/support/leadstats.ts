/** A real `leadstats serve` on 127.0.0.1 with a temporary DuckDB store, and the leadstats CLI. */

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (worker/dist/test/support -> ../../../..). */
export const REPO = path.resolve(here, "..", "..", "..", "..");

/** `$LEADSTATS_BIN`, else the repository's `.venv/bin/leadstats`, else `leadstats` on PATH. */
export function leadstatsBin(): string {
  if (process.env.LEADSTATS_BIN) return process.env.LEADSTATS_BIN;
  const venv = path.join(REPO, ".venv", "bin", "leadstats");
  return existsSync(venv) ? venv : "leadstats";
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const INGEST_TOKEN = "worker-e2e-ingest";
export const READ_TOKEN = "worker-e2e-read";

export class LeadstatsServer {
  readonly dir = mkdtempSync(path.join(tmpdir(), "leadstats-worker-"));
  readonly db = path.join(this.dir, "serve.duckdb");
  readonly log = path.join(this.dir, "serve.log");
  url = "";
  private proc: ChildProcess | null = null;

  async start(timeoutMs = 60_000): Promise<this> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const err = openSync(this.log, "a");
    this.proc = spawn(leadstatsBin(), ["serve", "--db", this.db, "--port", String(port), "--shutdown-timeout", "10"], {
      env: {
        ...process.env,
        LEADSTATS_INGEST_TOKENS: INGEST_TOKEN,
        LEADSTATS_READ_TOKENS: READ_TOKEN,
        LEADSTATS_RATE_LIMIT_PER_MINUTE: "0",
      },
      stdio: ["ignore", "ignore", err],
    });
    let spawnError: Error | null = null;
    this.proc.once("error", (e) => { spawnError = e; });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`cannot run ${leadstatsBin()} (set LEADSTATS_BIN): ${String(spawnError)}`);
      if (this.proc.exitCode !== null) throw new Error(`leadstats serve exited ${this.proc.exitCode}:\n${this.tail()}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.status === 200) return this;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`leadstats serve did not answer /healthz in ${timeoutMs} ms:\n${this.tail()}`);
  }

  tail(): string {
    try {
      return readFileSync(this.log, "utf8").slice(-3000);
    } catch {
      return "";
    }
  }

  /** `GET /api/v1/report` with the read token; the §4 document. */
  async report(params: Record<string, string>): Promise<ReportDoc> {
    const res = await fetch(`${this.url}/api/v1/report?${new URLSearchParams(params)}`, {
      headers: { Authorization: `Bearer ${READ_TOKEN}` },
    });
    if (res.status !== 200) throw new Error(`report ${res.status}: ${await res.text()}`);
    return (await res.json()) as ReportDoc;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ReportDoc {
  query: Record<string, unknown>;
  rows: Record<string, unknown>[];
  totals: Record<string, number>;
  meta?: Record<string, unknown>;
}

/** Run the leadstats CLI; stdout (throws with stderr on a non-zero exit). */
export async function cli(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(leadstatsBin(), args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`leadstats ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}
