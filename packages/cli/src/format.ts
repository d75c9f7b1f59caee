/**
 * Human output: byte sizes and aligned tables. Machine output is `--json` (see json.ts).
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `65536` → `64 KiB`, `1536` → `1.5 KiB`, `100` → `100 B` (binary units, ≤ 1 decimal). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = unit === 0 || Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${text} ${UNITS[unit]}`;
}

/** A percentage with one decimal, `0` of `0` being `0%`. */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  return `${((100 * part) / whole).toFixed(1).replace(/\.0$/, '')}%`;
}

/** Offsets print in hex, as in a hex dump of the pool file. */
export function formatOffset(offset: number): string {
  return `0x${offset.toString(16).padStart(8, '0')}`;
}

export type Cell = string | number | bigint | boolean | null | undefined;

/**
 * Renders rows under headers as an aligned table; numbers align right, text left.
 * Every row must have as many cells as there are headers.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))));
  const right = headers.map((_, c) => rows.length > 0 && rows.every((row) => typeof row[c] === 'number' || typeof row[c] === 'bigint'));
  const widths = headers.map((h, c) => Math.max(h.length, ...text.map((row) => row[c]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n') + '\n';
}

/** `key: value` lines with the values aligned. */
export function renderFields(fields: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length + 1));
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v === null || v === undefined ? '-' : String(v)}`).join('\n') + '\n';
}
