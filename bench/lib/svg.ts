/** A small hand-written SVG line chart: no dependency, readable in any browser or on GitHub. */

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  color: string;
  dashed?: boolean;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Vertical markers (an SLA, a deadline). */
  marks?: { x: number; label: string }[];
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** About five round tick values from 0 to at least `max`. */
function ticks(max: number): number[] {
  if (max <= 0) return [0];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  // Up to the first tick at or above `max`, so every point lies inside the plot.
  const out: number[] = [0];
  while ((out[out.length - 1] ?? 0) < max) out.push(Math.round(out.length * step * 1e6) / 1e6);
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 100) / 100));

export function lineChart(c: Chart): string {
  const W = c.width ?? 760;
  const H = c.height ?? 380;
  const m = { l: 64, r: 170, t: 36, b: 48 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = c.series.flatMap((s) => s.points);
  const xMax = Math.max(1e-9, ...all.map((p) => p.x), ...(c.marks ?? []).map((k) => k.x));
  const yMax = Math.max(1e-9, ...all.map((p) => p.y));
  const xt = ticks(xMax);
  const yt = ticks(yMax);
  const xTop = xt[xt.length - 1] ?? xMax;
  const yTop = yt[yt.length - 1] ?? yMax;
  const X = (x: number) => m.l + (x / xTop) * pw;
  const Y = (y: number) => m.t + ph - (y / yTop) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.l}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
  );
  for (const v of yt)
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end" fill="#555">${fmt(v)}</text>`,
    );
  for (const v of xt)
    out.push(
      `<line x1="${X(v)}" x2="${X(v)}" y1="${m.t}" y2="${m.t + ph}" stroke="#f0f0f0"/>`,
      `<text x="${X(v)}" y="${m.t + ph + 16}" text-anchor="middle" fill="#555">${fmt(v)}</text>`,
    );
  out.push(
    `<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  for (const k of c.marks ?? [])
    out.push(
      `<line x1="${X(k.x)}" x2="${X(k.x)}" y1="${m.t}" y2="${m.t + ph}" stroke="#c00" stroke-dasharray="6 4"/>`,
      `<text x="${X(k.x) + 4}" y="${m.t + 12}" fill="#c00">${esc(k.label)}</text>`,
    );
  c.series.forEach((s, i) => {
    if (s.points.length) {
      const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join('');
      out.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
      );
    }
    const ly = m.t + 8 + i * 18;
    out.push(
      `<line x1="${m.l + pw + 12}" x2="${m.l + pw + 36}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
      `<text x="${m.l + pw + 42}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
