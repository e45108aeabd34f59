/**
 * A small RGB raster with the drawing the charts need: pixels, lines with a square brush,
 * rectangles, discs, upscaled grayscale images and text in the 5x7 bitmap font.
 * Coordinates are pixels, x to the right and y down; drawing outside the canvas is clipped.
 */
import { writeFileSync } from 'node:fs';
import { ADVANCE, GLYPH_HEIGHT, glyph } from './font.js';
import { encodePng } from './png.js';

export type RGB = readonly [number, number, number];

export const WHITE: RGB = [255, 255, 255];
export const BLACK: RGB = [0, 0, 0];
export const GREY: RGB = [150, 150, 150];
export const LIGHT_GREY: RGB = [225, 225, 225];
/** Distinct colours for series and classes (a colour-blind-friendly palette, Okabe-Ito). */
export const PALETTE: readonly RGB[] = [
  [0, 114, 178], [213, 94, 0], [0, 158, 115], [204, 121, 167], [230, 159, 0], [86, 180, 233], [120, 120, 120],
];

export class Canvas {
  readonly pixels: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: RGB = WHITE) {
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  setPixel(x: number, y: number, c: RGB): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.pixels[i] = c[0];
    this.pixels[i + 1] = c[1];
    this.pixels[i + 2] = c[2];
  }

  fillRect(x: number, y: number, w: number, h: number, c: RGB): void {
    const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w)), y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.setPixel(xx, yy, c);
  }

  /** The outline of a rectangle, `thickness` pixels wide, drawn inside its bounds. */
  strokeRect(x: number, y: number, w: number, h: number, c: RGB, thickness = 1): void {
    this.fillRect(x, y, w, thickness, c);
    this.fillRect(x, y + h - thickness, w, thickness, c);
    this.fillRect(x, y, thickness, h, c);
    this.fillRect(x + w - thickness, y, thickness, h, c);
  }

  /** A line from (x0, y0) to (x1, y1) (Bresenham), each point a square of side `thickness`. */
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thickness = 1): void {
    let x = Math.round(x0), y = Math.round(y0);
    const xe = Math.round(x1), ye = Math.round(y1);
    const dx = Math.abs(xe - x), dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1, sy = y < ye ? 1 : -1;
    const half = Math.floor((thickness - 1) / 2);
    let err = dx + dy;
    for (;;) {
      this.fillRect(x - half, y - half, thickness, thickness, c);
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x += sx; }
      if (e2 <= dx) { err += dx; y += sy; }
    }
  }

  /** A filled disc of radius r centred on (cx, cy). */
  disc(cx: number, cy: number, r: number, c: RGB): void {
    for (let yy = Math.floor(cy - r); yy <= Math.ceil(cy + r); yy++) {
      for (let xx = Math.floor(cx - r); xx <= Math.ceil(cx + r); xx++) {
        if ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r) this.setPixel(xx, yy, c);
      }
    }
  }

  /**
   * A grayscale image (values in [0, 1], row-major h x w) drawn with its top-left corner at
   * (x, y), each source pixel as a `scale` x `scale` block.
   */
  drawGray(values: ArrayLike<number>, w: number, h: number, x: number, y: number, scale: number): void {
    for (let r = 0; r < h; r++) {
      for (let col = 0; col < w; col++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, values[r * w + col])));
        this.fillRect(x + col * scale, y + r * scale, scale, scale, [v, v, v]);
      }
    }
  }

  /** Width in pixels of `s` drawn at `scale`. */
  static textWidth(s: string, scale = 1): number {
    return s.length === 0 ? 0 : (s.length * ADVANCE - 1) * scale;
  }

  static readonly textHeight = GLYPH_HEIGHT;

  /**
   * Text with its top-left corner at (x, y), each font pixel a `scale` x `scale` block; with
   * `vertical` the text runs upwards from (x, y + width), rotated 90° counter-clockwise (y-axis titles).
   */
  text(x: number, y: number, s: string, c: RGB, scale = 1, vertical = false): void {
    const len = Canvas.textWidth(s, scale);
    [...s].forEach((ch, i) => {
      glyph(ch).forEach((row, gy) => row.forEach((on, gx) => {
        if (!on) return;
        const u = i * ADVANCE + gx;     // along the text
        if (!vertical) this.fillRect(x + u * scale, y + gy * scale, scale, scale, c);
        else this.fillRect(x + gy * scale, y + len - (u + 1) * scale, scale, scale, c);
      }));
    });
  }

  toPng(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }

  save(path: string): void {
    writeFileSync(path, this.toPng());
  }
}
