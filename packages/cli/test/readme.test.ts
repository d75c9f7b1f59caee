/**
 * The sample outputs of README.md are real output: every ```console block is run, in order, in
 * one fresh directory (the README tells one story: create app.pool, fill it, inspect, damage
 * copies, repair), and what each command prints is compared with what the block shows. UUIDs
 * are compared as "some UUID". A ```ts block marked `<!-- readme-test: run -->` is run where
 * it stands (with `Math.random` seeded, so the hash map's seed and so every layout number is
 * the same on every run; `ferrite` commands run seeded too); `<!-- readme-test: setup NAME -->` before a block makes the state its
 * prose describes (a copy caught mid-transaction, a leaked block).
 *
 * Commands: `ferrite ARGS` runs `main` in-process (`| grep WORD` keeps the lines holding WORD);
 * `echo $?` prints the last exit code; anything else goes to sh. `FERRITE_README_WRITE=1`
 * writes the outputs of this run into README.md instead of comparing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Prng } from '@ferrite/core/testing';
import { Store, openPoolFile } from '@ferrite/tx';
import { main } from '../src/cli.js';

const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const txSource = pathToFileURL(fileURLToPath(new URL('../../tx/src/index.ts', import.meta.url))).href;
const dir = mkdtempSync(join(tmpdir(), 'ferrite-cli-readme-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const normalise = (s: string) => s.replace(UUID, '<uuid>');

interface Block {
  lang: string;
  marker: string | undefined;
  /** Index of the block's first content line in the README's lines. */
  start: number;
  end: number;
  body: string[];
}

function blocks(lines: string[]): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i]!);
    if (!open) continue;
    let j = i + 1;
    while (lines[j] !== '```') j++;
    const prev = lines[i - 1]?.trim() ?? '';
    const marker = /^<!-- readme-test: (.+) -->$/.exec(prev)?.[1];
    out.push({ lang: open[1]!, marker, start: i + 1, end: j, body: lines.slice(i + 1, j) });
    i = j;
  }
  return out;
}

function withSeededRandom<T>(fn: () => Promise<T>): Promise<T> {
  const saved = Math.random;
  const rng = new Prng(0x5eed);
  Math.random = () => rng.nextU32() / 0x100000000;
  return fn().finally(() => {
    Math.random = saved;
  });
}

/** The states the README's prose describes before some blocks. */
const SETUPS: Record<string, () => void> = {
  // A copy of app.pool taken while a transaction was changing /etc/passwd (a crash's image).
  'crashed.pool': () => {
    // Persistent memory (forced): stores land in the file as they are made, so a copy taken
    // mid-transaction is what a crash leaves (on an ordinary file nothing reaches it before
    // the commit's log record).
    const store = Store.open('app.pool', { forcePmem: true });
    try {
      store.transaction(() => {
        store.map<string, { ino: number; size: number }>('inodes').set('/etc/passwd', { ino: 12, size: 4096 });
        copyFileSync('app.pool', 'crashed.pool');
        throw new Error('abandon');
      });
    } catch (err) {
      if ((err as Error).message !== 'abandon') throw err;
    } finally {
      store.close();
    }
  },
  // A block allocated in a committed transaction and never linked anywhere.
  leak: () => {
    const pool = openPoolFile('app.pool');
    try {
      pool.transaction((tx) => tx.alloc(40));
    } finally {
      pool.close();
    }
  },
};

function runCommand(command: string, last: { code: number }): string {
  if (command === 'echo $?') return `${last.code}\n`;
  const grep = / \| grep (\S+)$/.exec(command);
  const line = grep ? command.slice(0, grep.index) : command;
  if (line.startsWith('ferrite ')) {
    let out = '';
    const write = (s: string) => (out += s);
    // Seeded as the ts blocks are: a compaction makes new hash maps, whose seeds decide which
    // entries share a bucket and so, by a chunk, the compacted file's size.
    const saved = Math.random;
    const rng = new Prng(0x5eed);
    Math.random = () => rng.nextU32() / 0x100000000;
    try {
      last.code = main(line.slice('ferrite '.length).split(/\s+/), { stdout: { write, isTTY: false }, stderr: { write, isTTY: false } });
    } finally {
      Math.random = saved;
    }
    if (grep) out = out.split('\n').filter((l) => l.includes(grep[1]!)).map((l) => `${l}\n`).join('');
    return out;
  }
  assert.equal(grep, null, 'grep only after ferrite');
  execFileSync('sh', ['-c', line], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  last.code = 0;
  return '';
}

test('README.md: every sample output is what the command prints', async () => {
  const text = readFileSync(readmePath, 'utf8');
  const lines = text.split('\n');
  const all = blocks(lines);
  const consoles = all.filter((b) => b.lang === 'console');
  assert.ok(consoles.length >= 8, 'the README shows its commands in console blocks');
  const previous = process.cwd();
  process.chdir(dir);
  const rewritten = [...lines];
  const replacements: { start: number; end: number; body: string[] }[] = [];
  let commands = 0;
  try {
    for (const [i, block] of all.entries()) {
      if (block.marker?.startsWith('setup ')) {
        const setup = SETUPS[block.marker.slice('setup '.length)];
        assert.ok(setup, `a setup named ${block.marker}`);
        setup();
      }
      if (block.lang === 'ts' && block.marker === 'run') {
        const file = join(dir, `program-${i}.ts`);
        writeFileSync(file, block.body.join('\n').replaceAll("from '@ferrite/tx'", `from '${txSource}'`));
        await withSeededRandom(() => import(pathToFileURL(file).href));
        continue;
      }
      if (block.lang !== 'console') continue;
      const last = { code: 0 };
      const produced: string[] = [];
      const expected: string[] = [];
      let current: string[] | undefined;
      for (const l of block.body) {
        if (l.startsWith('$ ')) {
          if (current) expected.push(current.join('\n'));
          current = [];
          const out = runCommand(l.slice(2), last);
          produced.push(l, ...out.replace(/\n$/, '').split('\n').filter((x, k, a) => !(a.length === 1 && x === '')));
          commands++;
        } else {
          assert.ok(current, `block at line ${block.start}: output before any command`);
          current.push(l);
        }
      }
      if (process.env.FERRITE_README_WRITE === '1') {
        replacements.push({ start: block.start, end: block.end, body: produced });
      } else {
        assert.equal(normalise(produced.join('\n')), normalise(block.body.join('\n')), `README.md console block at line ${block.start}`);
      }
    }
  } finally {
    process.chdir(previous);
  }
  assert.ok(commands >= 15, `ran ${commands} commands`);
  if (process.env.FERRITE_README_WRITE === '1') {
    for (const r of replacements.reverse()) rewritten.splice(r.start, r.end - r.start, ...r.body);
    writeFileSync(readmePath, rewritten.join('\n'));
  }
});
