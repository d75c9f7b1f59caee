/**
 * The seal hash (src/seal.ts): deterministic, and changed by every single-word and single-byte
 * change of fuzzed inputs, at any alignment and length, in both of its 32-bit halves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seal } from '../src/seal.js';

const out = new Uint32Array(2);
/** The seal of one range [offset, offset + length) under generation `gen`. */
function sealOf(view: DataView, offset: number, length: number, gen = 7): [number, number] {
  seal(view, gen, 0, [offset, length], 1, out);
  return [out[0]!, out[1]!];
}

const input = fc.record({
  data: fc.uint8Array({ minLength: 1, maxLength: 420 }),
  lead: fc.nat(7),
  pick: fc.nat(),
  value: fc.nat(0xffffffff),
});

test('the seal is deterministic and covers the generation and the range list', () => {
  const bytes = Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 0xff);
  const view = new DataView(bytes.buffer);
  assert.deepEqual(sealOf(view, 3, 190), sealOf(view, 3, 190));
  assert.notDeepEqual(sealOf(view, 3, 190, 1), sealOf(view, 3, 190, 2));
  assert.notDeepEqual(sealOf(view, 3, 190, 2 ** 40), sealOf(view, 3, 190, 2 ** 41));
  // The tag (the record's own range count) is sealed too.
  seal(view, 5, 1, [0, 32], 1, out);
  const tagged = [...out];
  seal(view, 5, 0, [0, 32], 1, out);
  assert.notDeepEqual([...out], tagged);
  // The same bytes split differently into ranges seal differently.
  seal(view, 5, 0, [0, 16, 16, 16], 2, out);
  const two = [...out];
  seal(view, 5, 0, [0, 8, 8, 24], 2, out);
  assert.notDeepEqual([...out], two);
  seal(view, 5, 0, [0, 32], 1, out);
  assert.notDeepEqual([...out], two);
});

test('every single-word change in the second of several ranges changes the seal', () => {
  const bytes = Uint8Array.from({ length: 512 }, (_, i) => (i * 131 + 7) & 0xff);
  const view = new DataView(bytes.buffer);
  const ranges = [8, 24, 101, 77, 300, 8];
  seal(view, 9, 0, ranges, 3, out);
  const base = [...out];
  for (let w = 96; w < 184; w += 8) {
    const saved = bytes.slice(w, w + 8);
    for (let i = w; i < w + 8; i++) bytes[i] = bytes[i]! ^ 0x81;
    seal(view, 9, 0, ranges, 3, out);
    const inRange = w + 8 > 101 && w < 178;
    assert.equal(out[0] !== base[0] && out[1] !== base[1], inRange, `word at ${w}`);
    bytes.set(saved, w);
  }
});

test('every single 8-byte-word change of a fuzzed range changes both halves of the seal', () => {
  fc.assert(
    fc.property(input, ({ data, lead, value }) => {
      // The range starts `lead` bytes into the buffer: unaligned starts and 1-3 byte tails.
      const buf = new Uint8Array(lead + data.length + 8);
      buf.set(data, lead);
      const view = new DataView(buf.buffer);
      const [lo, hi] = sealOf(view, lead, data.length);
      // Every aligned 8-byte word of the buffer that overlaps the range (what a torn crash
      // image changes), replaced by a different value inside the range.
      for (let w = 0; w < buf.length; w += 8) {
        const from = Math.max(w, lead);
        const to = Math.min(w + 8, lead + data.length);
        if (from >= to) continue;
        const saved = buf.slice(from, to);
        for (let i = from; i < to; i++) buf[i] = (buf[i]! + 1 + ((value >>> ((i - from) % 4) * 8) & 0x7f)) & 0xff;
        const [lo2, hi2] = sealOf(view, lead, data.length);
        assert.ok(lo2 !== lo && hi2 !== hi, `word at ${w} changed: seal ${lo}/${hi} -> ${lo2}/${hi2}`);
        buf.set(saved, from);
      }
      assert.deepEqual(sealOf(view, lead, data.length), [lo, hi], 'restored input, same seal');
    }),
    { numRuns: 300, seed: 0x5ea1 },
  );
});

test('every single-byte change (any position, any new value) changes the seal', () => {
  fc.assert(
    fc.property(input, ({ data, lead, pick, value }) => {
      const buf = new Uint8Array(lead + data.length);
      buf.set(data, lead);
      const view = new DataView(buf.buffer);
      const [lo, hi] = sealOf(view, lead, data.length);
      const at = lead + (pick % data.length);
      const old = buf[at]!;
      buf[at] = old ^ (1 + (value % 255));
      const [lo2, hi2] = sealOf(view, lead, data.length);
      assert.ok(lo2 !== lo && hi2 !== hi, `byte ${at - lead} of ${data.length}`);
    }),
    { numRuns: 2000, seed: 0xb17e },
  );
});

test('ranges of different lengths over the same zero bytes seal differently', () => {
  const view = new DataView(new ArrayBuffer(64));
  const seen = new Set<string>();
  for (let len = 0; len <= 64; len++) seen.add(sealOf(view, 0, len).join(':'));
  assert.equal(seen.size, 65);
});
