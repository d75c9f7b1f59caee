/**
 * How the kill loops start the bank child, fast.
 *
 * Starting it through tsx costs ~0.4 s per spawn on an idle 2-vCPU VM (several seconds under
 * load), which dominates a loop of a hundred kills. So the child and the workspace sources it
 * imports are bundled once per test process with esbuild (the one tsx already ships with; no
 * new dependency) into a temporary folder laid out like a package — `pkg/dist/child.mjs`
 * next to `pkg/build`, a link to the native addon's build folder, which is where the native
 * binding looks for its `.node` file relative to itself. Plain `node child.mjs` then starts
 * in well under 0.1 s. If bundling is not possible the loops fall back to tsx.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD_SOURCE = fileURLToPath(new URL('./bank-child.ts', import.meta.url));
const NATIVE_BUILD = fileURLToPath(new URL('../../../native/build', import.meta.url));

/** The subset of esbuild's API used here (typed locally: esbuild is tsx's dependency, not ours). */
interface EsbuildLike {
  buildSync(options: {
    entryPoints: string[];
    bundle: boolean;
    platform: 'node';
    format: 'esm';
    target: string;
    outfile: string;
    conditions: string[];
    external: string[];
    banner: { js: string };
    logLevel: 'silent';
  }): unknown;
}

export interface ChildCommand {
  /** Arguments for `node` before the child's own arguments. */
  args: string[];
  /** 'bundle' or 'tsx', for the log. */
  how: 'bundle' | 'tsx';
  /** Removes the temporary bundle (idempotent). */
  dispose(): void;
}

function viaTsx(source: string): ChildCommand {
  return { args: ['--conditions=ferrite-source', '--import', 'tsx', source], how: 'tsx', dispose() {} };
}

/**
 * Bundles the child once (the bank child, or the script at `source`); returns how to run it.
 * Falls back to tsx when bundling fails.
 */
export function childCommand(source: string = CHILD_SOURCE): ChildCommand {
  let dir: string | undefined;
  try {
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
    const esbuild = fromTsx('esbuild') as EsbuildLike;
    dir = mkdtempSync(join(tmpdir(), 'ferrite-bank-child-'));
    mkdirSync(join(dir, 'pkg', 'dist'), { recursive: true });
    symlinkSync(NATIVE_BUILD, join(dir, 'pkg', 'build'), 'dir');
    const outfile = join(dir, 'pkg', 'dist', 'child.mjs');
    esbuild.buildSync({
      entryPoints: [source],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      conditions: ['ferrite-source'],
      external: ['*.node', 'msgpackr-extract'],
      // Bundled CommonJS code (msgpackr) calls require(): give the ESM bundle one.
      banner: { js: "import { createRequire as __ferriteCreateRequire } from 'node:module'; const require = __ferriteCreateRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    const owned = dir;
    return {
      args: [outfile],
      how: 'bundle',
      dispose() {
        rmSync(owned, { recursive: true, force: true });
      },
    };
  } catch {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    return viaTsx(source);
  }
}
