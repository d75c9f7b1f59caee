/**
 * The child side of the damaged-pool fuzzer. Reads a job file (argv[2]): base images, the
 * cases (a base index and a Damage each) and the probe module to run on each damaged image.
 * Before a case it prints `start <i>`, after it `done <json>`, so the parent knows which case
 * was running when the process died or stopped answering. Untyped exceptions are reported as
 * `bug` results (the probe decides what counts as typed); a fault or an OOM kills this
 * process, which is the point of running it apart from the test runner.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { applyDamage, type Damage } from './damage.js';

export interface FuzzCase {
  readonly index: number;
  readonly base: number;
  readonly damage: Damage;
}

export interface FuzzJob {
  readonly images: readonly string[];
  readonly probe: string;
  readonly scratchDir: string;
  readonly cases: readonly FuzzCase[];
}

/** What the probe made of one damaged image. */
export type ProbeOutcome =
  | { readonly outcome: 'reported'; readonly problems: number; readonly first: string }
  | { readonly outcome: 'clean' }
  /** Opened and checked clean, but the content differs from the undamaged base's. */
  | { readonly outcome: 'silent' }
  | { readonly outcome: 'typed'; readonly code: string; readonly message: string }
  | { readonly outcome: 'bug'; readonly error: string };

export interface ProbeModule {
  probe(image: Uint8Array, scratchPath: string, caseIndex: number): ProbeOutcome;
  /** Optional: shown each undamaged base image once before the cases. */
  learnBase?(image: Uint8Array, scratchPath: string): void;
}

export type CaseResult = ProbeOutcome & { readonly i: number; readonly rss: number; readonly ms: number };

async function run(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as FuzzJob;
  const images = job.images.map((p) => new Uint8Array(readFileSync(p)));
  const mod = (await import(pathToFileURL(job.probe).href)) as ProbeModule;
  const out = (line: string): void => {
    // Synchronous write: a fault in the next case must not lose this line.
    process.stdout.write(line + '\n');
  };
  images.forEach((image, i) => mod.learnBase?.(image, `${job.scratchDir}/base-${process.pid}-${i}.pool`));
  for (const c of job.cases) {
    out(`start ${c.index}`);
    const image = applyDamage(images[c.base], c.damage, images);
    const t0 = process.hrtime.bigint();
    let outcome: ProbeOutcome;
    try {
      outcome = mod.probe(image, `${job.scratchDir}/case-${c.index}.pool`, c.index);
    } catch (err) {
      outcome = { outcome: 'bug', error: `probe threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` };
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const result: CaseResult = { ...outcome, i: c.index, rss: process.memoryUsage.rss(), ms };
    out(`done ${JSON.stringify(result)}`);
  }
  out('end');
}

await run();
