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
 * nothing.
 */
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

/** Pages kept in the small inline table before the Map is used (most transactions). */
const SMALL = 8;

export class Coverage {
  private readonly pages = new Map<number, PageList>();
  private readonly spare: PageList[] = [];
  // The first SMALL pages of a transaction: linear lookup, no Map entry, nothing to collect.
  private readonly smallKeys = new Float64Array(SMALL);
  private readonly smallLists: PageList[] = Array.from({ length: SMALL }, () => ({ v: [0, 0], n: 0 }));
  private nSmall = 0;
  /**
   * The page found last (-1: none): a transaction's lookups come in runs on one page (a write's
   * ranges, the header every write of a batch changes), and a big transaction's pages are in
   * the Map, behind the SMALL scanned first.
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
    if (list === undefined && this.nSmall === SMALL) list = this.pages.get(page);
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
      list = this.spare.pop() ?? { v: [0, 0], n: 0 };
      this.pages.set(page, list);
    }
    this.lastPage = page;
    this.lastList = list;
    return list;
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

  /**
   * Appends every covered interval to `out`, sorted by offset, joining intervals that touch
   * (across page boundaries too). Returns the number of pairs appended.
   */
  collect(out: RangeList): number {
    const keys: number[] = [];
    for (let i = 0; i < this.nSmall; i++) keys.push(this.smallKeys[i]!);
    for (const k of this.pages.keys()) keys.push(k);
    keys.sort((a, b) => a - b);
    const before = out.n;
    for (const page of keys) {
      const list = this.lookup(page)!;
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
    if (this.pages.size === 0) return;
    if (this.spare.length < 256) {
      for (const list of this.pages.values()) {
        list.n = 0;
        if (this.spare.length < 256) this.spare.push(list);
      }
    }
    this.pages.clear();
  }
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
