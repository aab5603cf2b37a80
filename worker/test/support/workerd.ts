/** Miniflare (workerd from npm) running the compiled fixture Workers. */

import { fileURLToPath } from "node:url";
import path from "node:path";
import { Miniflare, type WorkerOptions } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/ (the compiled tree: dist/src, dist/test/fixtures). */
export const DIST = path.resolve(here, "..", "..");

export const COMPAT = { compatibilityDate: "2025-07-01", compatibilityFlags: ["nodejs_compat"] };

/** A module Worker from a compiled fixture; its imports (../../src/*.js) are collected by Miniflare. */
export function fixture(name: string, options: Partial<WorkerOptions> = {}): WorkerOptions {
  return {
    name,
    modules: true,
    scriptPath: path.join(DIST, "test", "fixtures", `${name.replace(/-(direct|queued)$/, "")}.js`),
    modulesRoot: DIST,
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    ...COMPAT,
    ...options,
  } as WorkerOptions;
}

/** The recording Analytics Engine stand-in, to be named in `wrappedBindings`. */
export function aeRecorder(): WorkerOptions {
  return {
    name: "ae-recorder",
    modules: true,
    scriptPath: path.join(DIST, "test", "fixtures", "ae-recorder.js"),
    modulesRoot: DIST,
  } as WorkerOptions;
}

export { Miniflare };
