/**
 * The parent side of the damaged-pool fuzzer: draws cases with fast-check from a fixed seed,
 * runs them in batches in child processes (fuzz-worker.ts) with a per-case time bound and a
 * heap limit, and classifies every case. A child that dies (signal, V8 OOM, non-zero exit) or
 * stops making progress is a finding against the case it was running; the batch then resumes
 * in a new child after that case, so one bad case does not hide the rest.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { applyDamage, damageArbitrary, type Damage } from './damage.js';
import type { CaseResult, FuzzCase, FuzzJob } from './fuzz-worker.js';

export interface FuzzOptions {
  /** Paths of the undamaged base images. */
  readonly images: readonly string[];
  /** Absolute path of the probe module (exports `probe`). */
  readonly probe: string;
  readonly seed: number;
  readonly cases: number;
  readonly batchSize: number;
  /** A case that runs longer than this is a hang. */
  readonly caseTimeoutMs: number;
  /** V8 heap limit of a child (--max-old-space-size). */
  readonly maxOldSpaceMb: number;
  /** Resident set bound per case: more is "unbounded allocation". */
  readonly maxRssBytes: number;
  /** Directory for scratch files (tmpfs when available). */
  readonly scratchRoot?: string;
  /**
   * Where the damaged image of the first finding of each site is written (`case-<index>.pool`), the exact bytes
   * that failed: base images carry random uuids and hash seeds, so a damage description alone
   * does not reproduce a case in another run. Default: no images kept.
   */
  readonly findingsDir?: string;
}

export interface Finding {
  readonly index: number;
  readonly base: number;
  readonly damage: Damage;
  readonly what: 'crash' | 'hang' | 'bug' | 'memory';
  readonly detail: string;
  /** The damaged image, when `findingsDir` was given. */
  image?: string;
}

export interface FuzzSummary {
  readonly seed: number;
  readonly total: number;
  readonly reported: number;
  readonly clean: number;
  /** Opened clean but with content different from the base: damage the format cannot see. */
  readonly silent: number;
  /** A sample of silent cases (reproducers). */
  readonly silentSamples: readonly FuzzCase[];
  readonly typed: number;
  readonly codes: Readonly<Record<string, number>>;
  readonly findings: readonly Finding[];
  readonly maxCaseMs: number;
  readonly maxRss: number;
}

const WORKER = fileURLToPath(new URL('./fuzz-worker.ts', import.meta.url));

/** Draws the cases: which base image, which damage (sized for that image). */
export function drawCases(sizes: readonly number[], count: number, seed: number): FuzzCase[] {
  const arb = fc
    .integer({ min: 0, max: sizes.length - 1 })
    .chain((base) => damageArbitrary(sizes[base], sizes.length).map((damage) => ({ base, damage })));
  return fc.sample(arb, { seed, numRuns: count }).map((c, index) => ({ index, ...c }));
}

interface BatchRun {
  readonly results: CaseResult[];
  /** Index (into the batch) of the case the child was running when it failed, if it failed. */
  readonly failedAt?: number;
  readonly failure?: { what: 'crash' | 'hang'; detail: string };
}

function runBatch(opts: FuzzOptions, scratchDir: string, cases: readonly FuzzCase[]): Promise<BatchRun> {
  const jobPath = join(scratchDir, `job-${cases[0].index}.json`);
  const job: FuzzJob = { images: opts.images, probe: opts.probe, scratchDir, cases };
  writeFileSync(jobPath, JSON.stringify(job));
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [`--max-old-space-size=${opts.maxOldSpaceMb}`, '--conditions=ferrite-source', '--import', 'tsx', WORKER, jobPath],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const results: CaseResult[] = [];
    let running: number | undefined;
    let buffered = '';
    let stderr = '';
    let timedOut = false;
    // Startup (tsx compiling the probe's imports) gets its own generous bound.
    let timer = setTimeout(onTimeout, 30_000);
    function onTimeout(): void {
      timedOut = true;
      child.kill('SIGKILL');
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('start ')) {
          running = Number(line.slice(6));
          clearTimeout(timer);
          timer = setTimeout(onTimeout, opts.caseTimeoutMs);
        } else if (line.startsWith('done ')) {
          results.push(JSON.parse(line.slice(5)) as CaseResult);
          running = undefined;
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 20_000) stderr += chunk;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ok = code === 0 && signal === null && results.length === cases.length;
      if (ok) {
        resolve({ results });
        return;
      }
      const at = running === undefined ? results.length : cases.findIndex((c) => c.index === running);
      const what = timedOut ? 'hang' : 'crash';
      const detail = timedOut
        ? `no answer within ${opts.caseTimeoutMs} ms`
        : `child exited with ${signal ?? `code ${String(code)}`}: ${stderr.slice(-2000)}`;
      resolve({ results, failedAt: Math.max(0, at), failure: { what, detail } });
    });
  });
}

/**
 * Where a finding comes from: the first stack frame in ferrite's sources (`pkg/src/file:line`),
 * so a thousand cases hitting one unchecked read count as one bug.
 */
export function findingSite(f: Finding): string {
  // invariant() lives in core/src/errors.ts: the caller's frame is the place to name.
  const frames = [...f.detail.matchAll(/packages\/([\w-]+\/src\/[\w./-]+:\d+)/g)].map((x) => x[1]);
  const m = frames.find((x) => !x.startsWith('core/src/errors.ts')) ?? frames[0];
  const first = f.detail.split('\n')[0];
  return m === undefined ? `${f.what}: ${first.slice(0, 120)}` : `${f.what} at ${m}: ${first.replace(/^[\w -]+: /, '').slice(0, 100)}`;
}

/** Groups findings by site, most frequent first, each with its first case as reproducer. */
export function groupFindings(findings: readonly Finding[]): { site: string; count: number; example: Finding }[] {
  const groups = new Map<string, { site: string; count: number; example: Finding }>();
  for (const f of findings) {
    const site = findingSite(f);
    const g = groups.get(site);
    if (g === undefined) groups.set(site, { site, count: 1, example: f });
    else g.count += 1;
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

/** Runs the whole campaign and returns the tally. */
export async function runFuzz(opts: FuzzOptions, sizes: readonly number[]): Promise<FuzzSummary> {
  const scratchDir = mkdtempSync(join(opts.scratchRoot ?? tmpdir(), 'ferrite-fuzz-'));
  const cases = drawCases(sizes, opts.cases, opts.seed);
  const findings: Finding[] = [];
  const codes: Record<string, number> = Object.create(null);
  let reported = 0;
  let clean = 0;
  let silent = 0;
  const silentSamples: FuzzCase[] = [];
  let typed = 0;
  let maxCaseMs = 0;
  let maxRss = 0;
  try {
    let next = 0;
    while (next < cases.length) {
      const batch = cases.slice(next, next + opts.batchSize);
      const run = await runBatch(opts, scratchDir, batch);
      for (const r of run.results) {
        const c = cases[r.i];
        maxCaseMs = Math.max(maxCaseMs, r.ms);
        maxRss = Math.max(maxRss, r.rss);
        if (r.rss > opts.maxRssBytes) {
          findings.push({ index: r.i, base: c.base, damage: c.damage, what: 'memory', detail: `rss ${r.rss} bytes after the case` });
        }
        if (r.outcome === 'reported') reported += 1;
        else if (r.outcome === 'clean') clean += 1;
        else if (r.outcome === 'silent') {
          silent += 1;
          if (silentSamples.length < 5) silentSamples.push(c);
        }
        else if (r.outcome === 'typed') {
          typed += 1;
          codes[r.code] = (codes[r.code] ?? 0) + 1;
        } else findings.push({ index: r.i, base: c.base, damage: c.damage, what: 'bug', detail: r.error });
      }
      if (run.failure === undefined) {
        next += batch.length;
      } else {
        const failed = batch[run.failedAt ?? 0];
        findings.push({ index: failed.index, base: failed.base, damage: failed.damage, ...run.failure });
        next = failed.index + 1;
      }
    }
    if (opts.findingsDir !== undefined && findings.length > 0) {
      mkdirSync(opts.findingsDir, { recursive: true });
      const bases = opts.images.map((p) => new Uint8Array(readFileSync(p)));
      // One image per site (its first case) is enough to replay it, and bounded on disk.
      for (const { example: f } of groupFindings(findings)) {
        f.image = join(opts.findingsDir, `case-${f.index}.pool`);
        writeFileSync(f.image, applyDamage(bases[f.base], f.damage, bases));
      }
    }
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
  return { seed: opts.seed, total: cases.length, reported, clean, silent, silentSamples, typed, codes, findings, maxCaseMs, maxRss };
}
