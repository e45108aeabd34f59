/**
 * Line charts on a Canvas: axes with "nice" ticks (linear or log10), a title, axis titles, series
 * of points joined by lines (or marked with dots) and a legend.
 */
import { BLACK, Canvas, GREY, LIGHT_GREY, type RGB } from './raster.js';

export interface Series {
  name: string;
  color: RGB;
  points: readonly (readonly [number, number])[];
  /** draw a dot at each point (default: only the line) */
  dots?: boolean;
  /** label each point with its y value (to this many decimals) */
  labelDecimals?: number;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** axis ranges (default: the data's extent) */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
  logY?: boolean;
  /** where the legend goes (default top-right) */
  legend?: 'top-right' | 'bottom-right' | 'top-left' | 'none';
  /** x intervals to shade lightly behind the data, with a caption */
  shade?: { from: number; to: number; caption: string };
}

/** The plot area of a chart inside its canvas region. */
interface Frame {
  x: number; y: number; w: number; h: number;
  toPx(x: number, y: number): [number, number];
}

/** Tick values at 1, 2 or 5 times a power of ten, about `target` of them across [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

/** Log-axis ticks: the powers of ten in [lo, hi], with 2x and 5x when there are few of them. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const few = Math.log10(hi / lo) < 3;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of few ? [1, 2, 5] : [1]) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace('e', 'E').replace('+', '');
  return String(Number(v.toPrecision(3)));
}

function extent(values: number[], pad: number): [number, number] {
  const lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo - pad * (hi - lo), hi + pad * (hi - lo)];
}

/** Draws a chart into the region (x0, y0, width, height) of `c`. */
export function drawChart(c: Canvas, x0: number, y0: number, width: number, height: number, o: ChartOptions): void {
  const left = 62, right = 16, top = 30, bottom = 44;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v) && (!o.logY || v > 0));
  const [xLo, xHi] = o.xRange ?? extent(xs.length ? xs : [0, 1], 0);
  let [yLo, yHi] = o.yRange ?? extent(ys.length ? ys : [0, 1], 0.05);
  if (o.logY) {
    yLo = o.yRange?.[0] ?? 10 ** Math.floor(Math.log10(Math.min(...ys)));
    yHi = o.yRange?.[1] ?? 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  }
  const fy = (v: number) => (o.logY ? (Math.log10(v) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo)) : (v - yLo) / (yHi - yLo));
  const f: Frame = {
    x: x0 + left, y: y0 + top, w: width - left - right, h: height - top - bottom,
    toPx(x, y) {
      return [this.x + ((x - xLo) / (xHi - xLo)) * this.w, this.y + this.h - fy(y) * this.h];
    },
  };

  c.text(x0 + left + (f.w - Canvas.textWidth(o.title, 2)) / 2, y0 + 6, o.title, BLACK, 2);
  if (o.shade) {
    const [sx0] = f.toPx(Math.max(xLo, o.shade.from), yLo), [sx1] = f.toPx(Math.min(xHi, o.shade.to), yLo);
    c.fillRect(sx0, f.y, sx1 - sx0, f.h, [235, 242, 250]);
    c.text(sx0 + (sx1 - sx0 - Canvas.textWidth(o.shade.caption)) / 2, f.y + f.h * 0.55, o.shade.caption, GREY);
  }
  // grid and ticks
  const xt = niceTicks(xLo, xHi), yt = o.logY ? logTicks(yLo, yHi) : niceTicks(yLo, yHi);
  for (const v of xt) {
    const [px] = f.toPx(v, yLo);
    c.line(px, f.y, px, f.y + f.h, LIGHT_GREY);
    const s = formatTick(v);
    c.text(px - Canvas.textWidth(s) / 2, f.y + f.h + 6, s, BLACK);
  }
  for (const v of yt) {
    const [, py] = f.toPx(xLo, v);
    c.line(f.x, py, f.x + f.w, py, LIGHT_GREY);
    const s = formatTick(v);
    c.text(f.x - 6 - Canvas.textWidth(s), py - 3, s, BLACK);
  }
  c.strokeRect(f.x, f.y, f.w + 1, f.h + 1, BLACK);
  c.text(f.x + (f.w - Canvas.textWidth(o.xLabel)) / 2, f.y + f.h + 22, o.xLabel, BLACK);
  c.text(x0 + 4, f.y + (f.h - Canvas.textWidth(o.yLabel)) / 2, o.yLabel, BLACK, 1, true);

  // series, clipped to the plot area
  const inside = (px: number, py: number) => px >= f.x && px <= f.x + f.w && py >= f.y && py <= f.y + f.h;
  for (const s of o.series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0)).map(([x, y]) => f.toPx(x, y));
    for (let i = 1; i < pts.length; i++) {
      const [ax, ay] = pts[i - 1], [bx, by] = pts[i];
      if (inside(ax, ay) && inside(bx, by)) c.line(ax, ay, bx, by, s.color, 2);
      else if (inside(ax, ay) || inside(bx, by)) clippedLine(c, f, ax, ay, bx, by, s.color);
    }
    if (s.dots) for (const [px, py] of pts) if (inside(px, py)) c.disc(px, py, 3.5, s.color);
    if (s.labelDecimals !== undefined) {
      s.points.forEach(([x, y]) => {
        const [px, py] = f.toPx(x, y);
        const label = y.toFixed(s.labelDecimals);
        if (inside(px, py)) c.text(px - Canvas.textWidth(label) / 2, py - 14, label, s.color);
      });
    }
  }

  if ((o.legend ?? 'top-right') !== 'none' && o.series.length > 0) {
    const rowH = 12, boxW = Math.max(...o.series.map((s) => Canvas.textWidth(s.name))) + 30;
    const boxH = o.series.length * rowH + 8;
    const where = o.legend ?? 'top-right';
    const lx = where === 'top-left' ? f.x + 8 : f.x + f.w - boxW - 8;
    const ly = where === 'bottom-right' ? f.y + f.h - boxH - 8 : f.y + 8;
    c.fillRect(lx, ly, boxW, boxH, [255, 255, 255]);
    c.strokeRect(lx, ly, boxW, boxH, GREY);
    o.series.forEach((s, i) => {
      const ry = ly + 5 + i * rowH;
      c.fillRect(lx + 6, ry + 2, 16, 3, s.color);
      c.text(lx + 26, ry, s.name, BLACK);
    });
  }
}

/** A segment with one end outside the plot area, drawn point by point where it is inside. */
function clippedLine(c: Canvas, f: Frame, ax: number, ay: number, bx: number, by: number, color: RGB): void {
  const n = Math.ceil(Math.max(Math.abs(bx - ax), Math.abs(by - ay))) + 1;
  for (let i = 0; i <= n; i++) {
    const x = ax + ((bx - ax) * i) / n, y = ay + ((by - ay) * i) / n;
    if (x >= f.x && x <= f.x + f.w && y >= f.y && y <= f.y + f.h) c.fillRect(x, y, 2, 2, color);
  }
}
