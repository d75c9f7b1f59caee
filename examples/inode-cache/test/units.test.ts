import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { InodeCache } from '../src/inode-cache.js';
import { MemoryStore } from '../src/memory-store.js';
import { renderPlot } from '../src/plot.js';
import { Progress } from '../src/progress.js';
import { formatBytes, formatMs, median, renderTable } from '../src/table.js';
import { planTree, sampleLookups } from '../src/tree-gen.js';
import { walkTree } from '../src/walk.js';

test('planTree is deterministic, exact in size, and mixes entry kinds with bounded depth', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 0xffff_ffff }), (n, seed) => {
    const a = planTree(n, seed);
    const b = planTree(n, seed);
    assert.deepEqual(a, b);
    assert.equal(a.entries.length, n);
    assert.ok(a.maxDepth <= 12);
    const paths = new Set(a.entries.map((e) => e.path));
    assert.equal(paths.size, n, 'names are unique');
    const dirs = new Set(a.entries.filter((e) => e.type === 'dir').map((e) => e.path));
    for (const e of a.entries) {
      const slash = e.path.lastIndexOf('/');
      if (slash >= 0) assert.ok(dirs.has(e.path.slice(0, slash)), `parent of ${e.path} is a planned directory, created first`);
    }
    assert.deepEqual(sampleLookups(a, 50), sampleLookups(b, 50));
  }), { numRuns: 30 });
  const big = planTree(20_000, 7);
  for (const kind of ['dir', 'file', 'symlink', 'hardlink'] as const) assert.ok(big.counts[kind] > 0, kind);
  assert.ok(big.counts.dir / 20_000 > 0.05 && big.counts.dir / 20_000 < 0.25, 'realistic share of directories');
  assert.throws(() => planTree(0, 1), RangeError);
});

test('the walker and the cache handle a tree deeper than a recursive walk would like', () => {
  const base = mkdtempSync(join(tmpdir(), 'inode-cache-deep-'));
  try {
    // 500 levels of one-letter directories: ~1 KB paths, under PATH_MAX.
    let p = base;
    for (let i = 0; i < 500; i++) p = join(p, 'd');
    mkdirSync(p, { recursive: true });
    const w = walkTree(base);
    assert.equal(w.entries, 500);
    const cache = new InodeCache(new MemoryStore());
    const r = cache.scan(base, { batchEntries: 100 });
    assert.equal(r.entriesListed, 500);
    assert.equal(cache.resolve(p).type, 'dir');
    assert.equal(cache.verify().mismatchCount, 0);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('renderPlot draws two log-scaled lines, axes and a legend', () => {
  const svg = renderPlot([
    { label: 'cold', color: '#d62728', points: [[1000, 20], [10000, 150], [100000, 1500]] },
    { label: 'hot <fast>', color: '#1f77b4', points: [[1000, 3], [10000, 12], [100000, 90]] },
  ], { title: 'Boot', xLabel: 'entries', yLabel: 'ms' });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.equal(svg.match(/<circle /g)?.length, 6);
  for (const tick of ['>1k<', '>10k<', '>100k<', '>1<', '>10<', '>100<', '>1000<']) assert.ok(svg.includes(tick), tick);
  assert.ok(svg.includes('hot &lt;fast&gt;'), 'labels are escaped');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  // x grows with size, y shrinks with time (SVG y points down).
  const pts = /<polyline[^>]*points="([^"]+)"/.exec(svg)?.[1].split(' ').map((p) => p.split(',').map(Number));
  assert.ok(pts && pts[0][0] < pts[1][0] && pts[1][0] < pts[2][0] && pts[0][1] > pts[2][1]);
  assert.throws(() => renderPlot([{ label: 'x', color: 'red', points: [[0, 1]] }], { title: '', xLabel: '', yLabel: '' }), RangeError);
});

test('table and number formatting', () => {
  const t = renderTable(['entries', 'caches', 'cold'], [['100,000', 'warm', '612 ms'], ['1,000', 'dropped', '9.50 ms']]);
  assert.equal(t, [
    'entries  caches      cold',
    '-------  -------  -------',
    '100,000  warm      612 ms',
    '  1,000  dropped  9.50 ms',
  ].join('\n'));
  assert.equal(formatMs(1234.5), '1235 ms');
  assert.equal(formatMs(41.23), '41.2 ms');
  assert.equal(formatMs(0.931), '0.93 ms');
  assert.equal(formatBytes(64 << 20), '64.0 MiB');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.throws(() => median([]), RangeError);
});

function sink(isTTY: boolean): { stream: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  let text = '';
  const stream = Object.assign(new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } }), { isTTY, columns: 60 });
  return { stream, text: () => text };
}

test('progress: a redrawn bar on a TTY, plain lines elsewhere, nothing when quiet', () => {
  const tty = sink(true);
  const p = new Progress('scan', 100, { stream: tty.stream });
  p.update(50, '/some/dir');
  p.done(100);
  assert.match(tty.text(), /^\rscan \[#{15}\.{15}\]  50% 50\/100/);
  assert.match(tty.text(), /\rscan \[#{30}\] 100% 100\/100 .*\n$/);
  assert.ok(!tty.text().slice(0, -1).includes('\n'), 'one line, redrawn');

  const pipe = sink(false);
  const q = new Progress('scan', undefined, { stream: pipe.stream, intervalMs: 0 });
  q.update(10);
  q.done(20);
  assert.match(pipe.text(), /^scan 10 \(\d+\/s\)\nscan 20 \(\d+\/s\) done\n$/);
  assert.doesNotMatch(pipe.text(), /\r|\[#/);

  const quiet = sink(false);
  const r = new Progress('scan', 5, { stream: quiet.stream, quiet: true });
  r.update(1);
  r.done(5);
  assert.equal(quiet.text(), '');
});
