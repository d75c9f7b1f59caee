/**
 * A hand-written SVG line chart of boot time against tree size: log-scale x (entries),
 * log-scale y (ms, so the hot line stays readable under the cold one), one line per series,
 * axes with decade ticks, grid and a legend. No dependency.
 */

export interface Series {
  readonly label: string;
  readonly color: string;
  /** Points as [x, y]; x and y must be > 0 (log scales). */
  readonly points: readonly (readonly [number, number])[];
}

export interface PlotOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly width?: number;
  readonly height?: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Powers of ten covering [lo, hi] (at least one decade). */
function decades(lo: number, hi: number): [number, number] {
  const a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi));
  if (b === a) b = a + 1;
  return [a, b];
}

/** Label of the tick at 10^exp: compact (1k, 1M) for counts, plain for times. */
function tickLabel(exp: number, compact: boolean): string {
  const v = 10 ** exp;
  if (compact && v >= 1e6) return `${v / 1e6}M`;
  if (compact && v >= 1e3) return `${v / 1e3}k`;
  return v >= 1 ? String(v) : v.toPrecision(1);
}

/** The SVG document of a log-log line chart. */
export function renderPlot(series: readonly Series[], options: PlotOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const m = { left: 70, right: 20, top: 40, bottom: 55 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (xs.length === 0 || xs.some((x) => !(x > 0)) || ys.some((y) => !(y > 0))) {
    throw new RangeError('a log-scale plot needs at least one point, all coordinates > 0');
  }
  const [x0, x1] = decades(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = decades(Math.min(...ys), Math.max(...ys));
  const sx = (x: number): number => m.left + ((Math.log10(x) - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => m.top + ph - ((Math.log10(y) - y0) / (y1 - y0)) * ph;
  const f = (n: number): string => n.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(options.title)}</text>`);
  // Grid and ticks: every decade labelled, 2..9 as faint lines.
  for (let e = x0; e <= x1; e++) {
    for (let k = 1; k <= 9 && (k === 1 || e < x1); k++) {
      const x = sx(k * 10 ** e);
      out.push(`<line x1="${f(x)}" y1="${m.top}" x2="${f(x)}" y2="${m.top + ph}" stroke="${k === 1 ? '#ccc' : '#eee'}"/>`);
    }
    out.push(`<text x="${f(sx(10 ** e))}" y="${m.top + ph + 18}" text-anchor="middle">${tickLabel(e, true)}</text>`);
  }
  for (let e = y0; e <= y1; e++) {
    for (let k = 1; k <= 9 && (k === 1 || e < y1); k++) {
      const y = sy(k * 10 ** e);
      out.push(`<line x1="${m.left}" y1="${f(y)}" x2="${m.left + pw}" y2="${f(y)}" stroke="${k === 1 ? '#ccc' : '#eee'}"/>`);
    }
    out.push(`<text x="${m.left - 8}" y="${f(sy(10 ** e) + 4)}" text-anchor="end">${tickLabel(e, false)}</text>`);
  }
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="black"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="black"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${height - 12}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
  // Lines with point markers.
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${f(sx(p[0]))},${f(sy(p[1]))}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${f(sx(p[0]))}" cy="${f(sy(p[1]))}" r="3.5" fill="${s.color}"/>`);
  }
  // Legend, top left inside the plot.
  series.forEach((s, i) => {
    const y = m.top + 14 + i * 18;
    out.push(`<line x1="${m.left + 12}" y1="${y}" x2="${m.left + 36}" y2="${y}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${m.left + 42}" y="${y + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
