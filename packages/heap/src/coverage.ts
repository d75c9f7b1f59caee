/**
 * The set of byte ranges a transaction has already snapshotted (or allocated fresh), so a
 * range added twice is logged once and a partial overlap logs only the uncovered parts.
 *
 * Ranges are bucketed by 4 KiB page: a page holds a short sorted list of disjoint intervals.
 * Adding costs one hash lookup plus a scan of that page's list, whatever the transaction's
 * size, where one sorted array would cost O(n) per insertion for large transactions. Pieces
 * are cut at page boundaries, which also bounds a log entry's size.
 *
 * This is on the hot path of every transaction: the lists and the output are reused across
 * transactions (counts are reset, arrays are not truncated), so a small transaction allocates
 * nothing, and a big one nothing once the pool of lists has grown to its size.
 */
import { invariant } from '@ferrite/core';

export const PAGE = 4096;

/** A growable list of (offset, length) pairs in a Float64Array (read in place by flushRanges). */
export class RangeList {
  data = new Float64Array(64);
  /** Number of pairs. */
  n = 0;

  push(offset: number, length: number): void {
    let d = this.data;
    if (2 * this.n + 2 > d.length) {
      const bigger = new Float64Array(d.length * 2);
      bigger.set(d);
      this.data = d = bigger;
    }
    d[2 * this.n] = offset;
    d[2 * this.n + 1] = length;
    this.n++;
  }

  clear(): void {
    this.n = 0;
  }
}

/** The discarded output of `Coverage.mark`. */
const markScratch = new RangeList();

/** Sorted disjoint intervals [v[0], v[1]), [v[2], v[3]), ... of one page; `n` numbers used. */
interface PageList {
  v: number[];
  n: number;
}

/** Pages kept in the small inline table before the big table is used (most transactions). */
const SMALL = 8;
/** Slots of a new (or dropped) big table; a power of two. */
const INITIAL_SLOTS = 1024;
/** A big table past this many slots is dropped at `clear` (a huge transaction's memory is not kept). */
const KEEP_SLOTS = 1 << 15;
/** Lists the pool keeps across `clear` (the rest go to the collector). */
const KEEP_LISTS = 8192;

export class Coverage {
  // The first SMALL pages of a transaction: linear lookup, nothing to hash, nothing to collect.
  private readonly smallKeys = new Float64Array(SMALL);
  private readonly smallLists: PageList[] = Array.from({ length: SMALL }, () => ({ v: [0, 0], n: 0 }));
  private nSmall = 0;
  /**
   * The pages after the SMALL first (a big transaction: a batch of hash-spread writes touches
   * a new page per write): an open-addressing table (linear probing) in typed arrays, mapping a
   * page to its list's index in `lists`. A Map entry per page, and a list object per page
   * when the spare ones ran out, cost more than the rest of an add, and the collector's time
   * with them. A slot is in use only when its stamp is the current one, so `clear` is O(1).
   */
  private mask = INITIAL_SLOTS - 1;
  private keys = new Float64Array(INITIAL_SLOTS);
  private stamps = new Uint32Array(INITIAL_SLOTS);
  private stamp = 1;
  private index = new Int32Array(INITIAL_SLOTS);
  /** The big pages' lists, in insertion order (`nBig` in use; the rest recycled), and their pages. */
  private readonly lists: PageList[] = [];
  private bigPages = new Float64Array(INITIAL_SLOTS / 2);
  private nBig = 0;
  /**
   * The page found last (-1: none): a transaction's lookups come in runs on one page (a write's
   * ranges, the header every write of a batch changes), and a big transaction's pages are in
   * the table, behind the SMALL scanned first.
   */
  private lastPage = -1;
  private lastList: PageList | undefined = undefined;

  private lookup(page: number): PageList | undefined {
    if (page === this.lastPage) return this.lastList;
    const keys = this.smallKeys;
    let list: PageList | undefined;
    for (let i = 0; i < this.nSmall; i++) {
      if (keys[i] === page) {
        list = this.smallLists[i];
        break;
      }
    }
    if (list === undefined && this.nBig > 0) list = this.bigLookup(page);
    if (list !== undefined) {
      this.lastPage = page;
      this.lastList = list;
    }
    return list;
  }

  private insert(page: number): PageList {
    let list: PageList;
    if (this.nSmall < SMALL) {
      this.smallKeys[this.nSmall] = page;
      list = this.smallLists[this.nSmall++]!;
    } else {
      list = this.bigInsert(page);
    }
    this.lastPage = page;
    this.lastList = list;
    return list;
  }

  private bigLookup(page: number): PageList | undefined {
    const keys = this.keys;
    const stamps = this.stamps;
    const stamp = this.stamp;
    const mask = this.mask;
    let s = hashPage(page, mask);
    while (stamps[s] === stamp) {
      if (keys[s] === page) return this.lists[this.index[s]!];
      s = (s + 1) & mask;
    }
    return undefined;
  }

  /** Adds `page` (in no table yet) to the big table; returns its (empty) list. */
  private bigInsert(page: number): PageList {
    const i = this.nBig;
    // At most half full: probes stay short.
    if (2 * (i + 1) > this.mask + 1) this.growTable();
    if (i === this.bigPages.length) {
      const bigger = new Float64Array(2 * i);
      bigger.set(this.bigPages);
      this.bigPages = bigger;
    }
    this.place(page, i);
    this.bigPages[i] = page;
    this.nBig = i + 1;
    let list = this.lists[i];
    if (list === undefined) {
      list = { v: [0, 0], n: 0 };
      this.lists.push(list);
    }
    list.n = 0;
    return list;
  }

  /** Puts `page` (not in the table) in a free slot, pointing at list `i`. */
  private place(page: number, i: number): void {
    const mask = this.mask;
    const stamps = this.stamps;
    const stamp = this.stamp;
    let s = hashPage(page, mask);
    while (stamps[s] === stamp) s = (s + 1) & mask;
    stamps[s] = stamp;
    this.keys[s] = page;
    this.index[s] = i;
  }

  /** Doubles the big table, placing every big page again. */
  private growTable(): void {
    const slots = 2 * (this.mask + 1);
    this.mask = slots - 1;
    this.keys = new Float64Array(slots);
    this.stamps = new Uint32Array(slots);
    this.index = new Int32Array(slots);
    this.stamp = 1;
    for (let i = 0; i < this.nBig; i++) this.place(this.bigPages[i]!, i);
  }

  /**
   * Marks [offset, offset + length) covered and appends each previously uncovered piece to
   * `out`. Returns the number of pairs appended.
   */
  add(offset: number, length: number, out: RangeList): number {
    let appended = 0;
    let a = offset;
    const end = offset + length;
    while (a < end) {
      const page = Math.floor(a / PAGE);
      const b = Math.min(end, (page + 1) * PAGE);
      let list = this.lookup(page);
      if (list === undefined) {
        list = this.insert(page);
        list.v[0] = a;
        list.v[1] = b;
        list.n = 2;
        out.push(a, b - a);
        appended++;
      } else {
        appended += addToList(list, a, b, out);
      }
      a = b;
    }
    return appended;
  }

  /** True when every byte of [offset, offset + length) is covered. */
  covers(offset: number, length: number): boolean {
    let a = offset;
    const end = offset + length;
    while (a < end) {
      const page = Math.floor(a / PAGE);
      const b = Math.min(end, (page + 1) * PAGE);
      const list = this.lookup(page);
      if (list === undefined) return false;
      let inside = false;
      for (let i = 0; i < list.n; i += 2) {
        if (list.v[i]! <= a && list.v[i + 1]! >= b) {
          inside = true;
          break;
        }
      }
      if (!inside) return false;
      a = b;
    }
    return true;
  }

  /** Marks [offset, offset + length) covered (no output: for sets nothing is logged from). */
  mark(offset: number, length: number): void {
    const out = markScratch;
    out.clear();
    this.add(offset, length, out);
  }

  /** True when some byte of [offset, offset + length) is covered. */
  overlaps(offset: number, length: number): boolean {
    let a = offset;
    const end = offset + length;
    while (a < end) {
      const page = Math.floor(a / PAGE);
      const b = Math.min(end, (page + 1) * PAGE);
      const list = this.lookup(page);
      if (list !== undefined) {
        for (let i = 0; i < list.n; i += 2) {
          if (list.v[i]! < b && list.v[i + 1]! > a) return true;
        }
      }
      a = b;
    }
    return false;
  }

  get empty(): boolean {
    return this.nSmall === 0;
  }

  /** Pages in the big table (tests prove they reach it). */
  get bigPageCount(): number {
    return this.nBig;
  }

  /**
   * Appends every covered interval to `out`, sorted by offset, joining intervals that touch
   * (across page boundaries too). Returns the number of pairs appended.
   */
  collect(out: RangeList): number {
    const keys = new Float64Array(this.nSmall + this.nBig);
    keys.set(this.smallKeys.subarray(0, this.nSmall));
    keys.set(this.bigPages.subarray(0, this.nBig), this.nSmall);
    keys.sort();
    const before = out.n;
    for (let k = 0; k < keys.length; k++) {
      const list = this.lookup(keys[k]!);
      invariant(list !== undefined, 'a collected page has its list');
      for (let i = 0; i < list.n; i += 2) {
        const a = list.v[i]!;
        const b = list.v[i + 1]!;
        const n = out.n;
        if (n > before && out.data[2 * (n - 1)]! + out.data[2 * (n - 1) + 1]! === a) out.data[2 * (n - 1) + 1]! += b - a;
        else out.push(a, b - a);
      }
    }
    return out.n - before;
  }

  clear(): void {
    this.nSmall = 0;
    this.lastPage = -1;
    this.lastList = undefined;
    if (this.nBig === 0) return;
    this.nBig = 0;
    if (this.lists.length > KEEP_LISTS) this.lists.length = KEEP_LISTS;
    if (this.mask + 1 > KEEP_SLOTS) {
      // A huge transaction's table is not kept for the ones that follow.
      this.mask = INITIAL_SLOTS - 1;
      this.keys = new Float64Array(INITIAL_SLOTS);
      this.stamps = new Uint32Array(INITIAL_SLOTS);
      this.index = new Int32Array(INITIAL_SLOTS);
      this.bigPages = new Float64Array(INITIAL_SLOTS / 2);
      this.stamp = 1;
    } else if (this.stamp === 0xffffffff) {
      this.stamps.fill(0);
      this.stamp = 1;
    } else {
      this.stamp++;
    }
  }
}

/**
 * Spreads page numbers (up to 2^41 for a 2^53-byte offset) over the big table's slots: the
 * slot, `mask` applied here (a hash above the small-integer range, returned, would be boxed).
 */
function hashPage(page: number, mask: number): number {
  const lo = page >>> 0;
  const hi = (page / 0x100000000) >>> 0;
  const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
  return (h ^ (h >>> 15)) & mask;
}

/** Merges [a, b) into a page's sorted list of disjoint, non-adjacent intervals; emits the gaps. */
function addToList(list: PageList, a: number, b: number, out: RangeList): number {
  const v = list.v;
  const n = list.n;
  let i = 0;
  while (i < n && v[i + 1]! < a) i += 2;
  let pos = a;
  let ns = a;
  let ne = b;
  let j = i;
  let appended = 0;
  while (j < n && v[j]! <= b) {
    const s = v[j]!;
    const e = v[j + 1]!;
    if (s > pos) {
      out.push(pos, s - pos);
      appended++;
    }
    if (e > pos) pos = e;
    if (s < ns) ns = s;
    if (e > ne) ne = e;
    j += 2;
  }
  if (pos < b) {
    out.push(pos, b - pos);
    appended++;
  }
  // Replace intervals [i, j) by the merged one.
  const removed = j - i;
  if (removed === 2) {
    v[i] = ns;
    v[i + 1] = ne;
  } else if (removed === 0) {
    if (v.length < n + 2) v.push(0, 0);
    for (let k = n - 1; k >= i; k--) v[k + 2] = v[k]!;
    v[i] = ns;
    v[i + 1] = ne;
    list.n = n + 2;
  } else {
    v[i] = ns;
    v[i + 1] = ne;
    const shift = removed - 2;
    for (let k = j; k < n; k++) v[k - shift] = v[k]!;
    list.n = n - shift;
  }
  return appended;
}
