/**
 * Every example in README.md and docs/*.md runs, each in a fresh temporary directory (its
 * current directory while it runs), so the documentation cannot go stale:
 *
 * - ```ts blocks (docs/api.md): each runs as a module of its own (an async function: an
 *   example may await), against the sources of @ferrite/tx, with a fresh store named `store`
 *   already open (the API examples use one);
 *   `import` lines are kept (those of @ferrite/tx point at the sources), console output is
 *   swallowed;
 * - ```js blocks (README.md's quick start) must be a file of examples/ verbatim, which runs with
 *   node as the README says;
 * - ```sh blocks (README.md's `ferrite` commands) run line by line; each must exit 0.
 *
 * Not run, by kind: ```bash blocks are the commands that install the workspace and run this
 * very suite, the demo or the crash suites (listed below, so a new one is noticed), and blocks
 * without a language are program output or byte layouts, not code. The test fails on a block
 * of any other kind. The CLI README's outputs are checked by packages/cli/test/readme.test.ts;
 * the installed packages run the quick start too (test/release.test.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tx from '@ferrite/tx';

const root = fileURLToPath(new URL('..', import.meta.url));
const txSource = pathToFileURL(join(root, 'packages', 'tx', 'src', 'index.ts')).href;
const work = mkdtempSync(join(tmpdir(), 'ferrite-docs-'));
after(() => rmSync(work, { recursive: true, force: true }));

const DOCS = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The ```bash blocks, which install or run this suite: not examples to run from inside it. */
const COMMAND_BLOCKS = [
  'npx --yes pnpm@9.15.9 install --frozen-lockfile && npx --yes pnpm@9.15.9 demo',
  'node scripts/test.mjs crash/',
];

interface Block { doc: string; lang: string; body: string; line: number }

function blocksOf(doc: string): Block[] {
  const text = readFileSync(join(root, doc), 'utf8');
  const out: Block[] = [];
  for (const m of text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    out.push({ doc, lang: m[1]!, body: m[2]!, line: text.slice(0, m.index).split('\n').length });
  }
  return out;
}

const blocks = DOCS.flatMap(blocksOf);
let dirs = 0;
function freshDir(): string {
  return mkdtempSync(join(work, `example-${dirs++}-`));
}

test('every block of README.md and docs/*.md is an example that runs, a command of the suite, or output', () => {
  assert.ok(blocks.length > 20);
  for (const b of blocks) {
    const where = `${b.doc}:${b.line}`;
    if (['ts', 'js', 'sh', ''].includes(b.lang)) continue;
    assert.equal(b.lang, 'bash', `${where}: a \`\`\`${b.lang} block is neither run nor known`);
    assert.ok(COMMAND_BLOCKS.some((c) => b.body.includes(c)), `${where}: a bash block that is not a known suite command`);
  }
});

test('docs/api.md has an example for every Store and collection method', () => {
  const api = blocks.filter((b) => b.doc === 'docs/api.md' && b.lang === 'ts').map((b) => b.body);
  for (const name of [
    'Store.open', 'defaultPoolPath', 'store.transaction', 'store.map', 'store.collections', 'store.drop',
    'store.stats', 'store.check', 'store.close', '.range(', '.first()', '.push(', '.shift()', '.peek()',
    'compareKeys', 'isFerriteError', '.get(', '.set(', '.delete(', '.has(', 'store.transactionAsync', 'store.flushed',
    'store.backup', 'store.shrink', 'backupPoolFile', 'compactPoolFile',
  ]) {
    assert.ok(api.some((b) => b.includes(name)), `an example uses ${name}`);
  }
});

declare global {
  // eslint-disable-next-line no-var
  var __ferriteDocs: unknown;
}

for (const [i, b] of blocks.entries()) {
  if (b.lang !== 'ts') continue;
  const title = b.body.split('\n').find((l) => l.trim() && !l.startsWith('import'))!.trim().slice(0, 60);
  test(`${b.doc}:${b.line} runs: ${title}`, async () => {
    const dir = freshDir();
    const lines = b.body.split('\n');
    const imports = lines.filter((l) => l.startsWith('import ')).map((l) => l.replace("from '@ferrite/tx'", `from '${txSource}'`));
    const body = lines.filter((l) => !l.startsWith('import ')).join('\n');
    const file = join(dir, `example-${i}.ts`);
    writeFileSync(file, [
      ...imports,
      `const { Store, FerriteError, isFerriteError, compareKeys, defaultPoolPath, PMap, PSortedMap, PQueue } = globalThis.__ferriteDocs as typeof import('${txSource}');`,
      // async: an example may await (transactionAsync, flushed).
      'export default async function run(): Promise<void> {',
      'const console = { log: (..._a: unknown[]) => {}, error: (..._a: unknown[]) => {} };',
      `let store = Store.open('harness.pool', { create: true, size: 8 << 20 });`,
      'try {',
      `{\n${body}\n}`,
      '} finally { if (!store.isClosed) store.close(); }',
      '}',
    ].join('\n'));
    globalThis.__ferriteDocs = tx;
    const mod = (await import(pathToFileURL(file).href)) as { default: () => Promise<void> };
    const previous = process.cwd();
    process.chdir(dir);
    try {
      await mod.default();
    } finally {
      process.chdir(previous);
    }
  });
}

for (const b of blocks.filter((x) => x.lang === 'js')) {
  test(`${b.doc}:${b.line}: the js example is a file of examples/ and runs as written`, () => {
    const name = readdirSync(join(root, 'examples')).find((f) => f.endsWith('.mjs') && readFileSync(join(root, 'examples', f), 'utf8') === b.body);
    assert.ok(name, `${b.doc}:${b.line} is verbatim the content of a file in examples/`);
    // As the README says: `node examples/<name>` from the repository root (here the sources
    // stand in for the build: the same program runs on the built tarballs in release.test.ts).
    const res = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', import.meta.resolve('tsx'), `examples/${name}`], {
      cwd: root, encoding: 'utf8', env: { ...process.env, TMPDIR: freshDir() },
    });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /\{ ino: 12, size: 2048 \}/);
  });
}

for (const b of blocks.filter((x) => x.lang === 'sh')) {
  test(`${b.doc}:${b.line}: every command runs and exits 0`, () => {
    const dir = freshDir();
    const commands = b.body.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
    assert.ok(commands.length > 0);
    for (const c of commands) {
      const res = spawnSync('sh', ['-c', c.replace(/^node packages\//, `node ${JSON.stringify(join(root, 'packages'))}/`)], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, FERRITE_CLI_SOURCE: '1' },
      });
      assert.equal(res.status, 0, `${c}: ${res.stdout}${res.stderr}`);
    }
  });
}
