/**
 * The set of byte ranges a transaction has already snapshotted (or allocated fresh), so a
 * range added twice is logged once and a partial overlap logs only the uncovered parts.
 *
 * Ranges are bucketed by 4 KiB page: a page holds a short sorted list of disjoint intervals.
 * Adding costs one hash lookup plus a scan of that page's list, whatever the transaction's
 * size, where one sorted array would cost O(n) per insertion for large transactions. Pieces
 * are cut at page boundaries, which also bounds a log entry's size.
 */
export const PAGE = 4096;

export class Coverage {
  private readonly pages = new Map<number, number[]>();
  private readonly spare: number[][] = [];

  /**
   * Marks [offset, offset + length) covered and appends each previously uncovered piece to
   * `out` as (offset, length) pairs. Returns the number of pairs appended.
   */
  add(offset: number, length: number, out: number[]): number {
    let appended = 0;
    let a = offset;
    const end = offset + length;
    while (a < end) {
      const page = Math.floor(a / PAGE);
      const b = Math.min(end, (page + 1) * PAGE);
      let list = this.pages.get(page);
      if (list === undefined) {
        list = this.spare.pop() ?? [];
        list.push(a, b);
        this.pages.set(page, list);
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
      const list = this.pages.get(page);
      if (list === undefined) return false;
      let inside = false;
      for (let i = 0; i < list.length; i += 2) {
        if (list[i]! <= a && list[i + 1]! >= b) {
          inside = true;
          break;
        }
      }
      if (!inside) return false;
      a = b;
    }
    return true;
  }

  get empty(): boolean {
    return this.pages.size === 0;
  }

  clear(): void {
    if (this.pages.size === 0) return;
    for (const list of this.pages.values()) {
      list.length = 0;
      if (this.spare.length < 64) this.spare.push(list);
    }
    this.pages.clear();
  }
}

/** Merges [a, b) into a sorted list of disjoint, non-adjacent intervals; emits the gaps. */
function addToList(list: number[], a: number, b: number, out: number[]): number {
  let i = 0;
  while (i < list.length && list[i + 1]! < a) i += 2;
  let pos = a;
  let ns = a;
  let ne = b;
  let j = i;
  let appended = 0;
  while (j < list.length && list[j]! <= b) {
    const s = list[j]!;
    const e = list[j + 1]!;
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
  list.splice(i, j - i, ns, ne);
  return appended;
}
