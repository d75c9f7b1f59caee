/**
 * Runs every ```ts example of docs/api.md, so the documentation stays true. Each block runs
 * in its own module with a fresh store named `store` in scope (blocks may open their own);
 * `import ... from '@ferrite/tx'` lines are provided by the harness; pool paths under
 * /dev/shm are redirected to per-run temporary files. console.log output is swallowed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import * as tx from '../src/index.js';

const docs = readFileSync(fileURLToPath(new URL('../../../docs/api.md', import.meta.url)), 'utf8');
const blocks = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'ferrite-docs-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
  // The defaultPoolPath example creates this one.
  rmSync(tx.defaultPoolPath('scratch'), { force: true });
});

declare global {
  // eslint-disable-next-line no-var
  var __ferriteDocs: unknown;
}

test('docs/api.md has an example for every Store and collection method', () => {
  for (const name of [
    'Store.open', 'defaultPoolPath', 'store.transaction', 'store.map', 'store.collections', 'store.drop',
    'store.stats', 'store.check', 'store.close', '.range(', '.first()', '.push(', '.shift()', '.peek()',
    'compareKeys', 'isFerriteError', '.get(', '.set(', '.delete(', '.has(',
  ]) {
    assert.ok(blocks.some((b) => b.includes(name)), `an example uses ${name}`);
  }
});

blocks.forEach((block, i) => {
  const title = block.split('\n').find((l) => l.trim() && !l.startsWith('import'))!.trim().slice(0, 60);
  test(`docs example ${i + 1}: ${title}`, async () => {
    let body = block.replace(/^import [^\n]*from '@ferrite\/tx';\n/gm, '');
    body = body.replace(/'\/dev\/shm\/([\w.-]+)'/g, (_m, f: string) => JSON.stringify(join(dir, `${i}-${f}`)));
    const file = join(dir, `example-${i}.ts`);
    const poolPath = join(dir, `${i}-prelude.pool`);
    writeFileSync(file, [
      `const { Store, FerriteError, isFerriteError, compareKeys, defaultPoolPath, PMap, PSortedMap, PQueue } = globalThis.__ferriteDocs as typeof import('${pathToFileURL(fileURLToPath(new URL('../src/index.js', import.meta.url))).href}');`,
      `export default function run(): void {`,
      `const console = { log: (..._a: unknown[]) => {}, error: (..._a: unknown[]) => {} };`,
      `let store = Store.open(${JSON.stringify(poolPath)}, { create: true, size: 8 << 20 });`,
      `try {`,
      `{\n${body}\n}`,
      `} finally { if (!store.isClosed) store.close(); }`,
      `}`,
    ].join('\n'));
    globalThis.__ferriteDocs = tx;
    const mod = (await import(pathToFileURL(file).href)) as { default: () => void };
    mod.default();
  });
});
