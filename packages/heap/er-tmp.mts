import { encodeRecord } from './src/wal.ts';
import { crc32c } from '@ferrite/core';
const src = new Uint8Array(64 << 20);
for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
const n = Number(process.argv[2] ?? 3000);
const ranges: number[] = [];
let off = 1 << 20;
for (let i = 0; i < n; i++) { const len = 8 + 8 * ((i * 7) % 8); ranges.push(off, len); off += len + 64 + ((i * 13) % 512) * 8; }
let bytes = 0; for (let i = 1; i < ranges.length; i += 2) bytes += ranges[i]!;
const R = 300;
let t = process.hrtime.bigint();
for (let r = 0; r < R; r++) encodeRecord(ranges, n, src, 1, r + 1);
const per = Number(process.hrtime.bigint() - t) / R / 1000;
const rec = encodeRecord(ranges, n, src, 1, 1);
t = process.hrtime.bigint();
for (let r = 0; r < R; r++) crc32c(rec, 0, rec.length);
const crc = Number(process.hrtime.bigint() - t) / R / 1000;
console.log(`${n} ranges, ${bytes} data bytes, record ${rec.length}: encodeRecord ${per.toFixed(1)} µs, of which crc ~${crc.toFixed(1)} µs`);
