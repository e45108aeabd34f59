/**
 * Boxes and labels over one image, as SVG elements: ground truth dashed, each detection in its
 * class's colour with a label (class name and score) in real text on a filled tab, as
 * torchvision's `draw_bounding_boxes` and Detectron's visualiser draw them.
 */
import { type DrawnDetection, type DrawnImage, checkBox, checkLabel } from './drawn-image.js';
import { GROUND_TRUTH_COLOR, PALETTE } from './style.js';

/**
 * Width of a text in the fonts of FONT_FAMILY, estimated (nothing here measures text): 0.55 em
 * per character. Labels such as "ellipse 0.90" average 0.48 to 0.50 em in DejaVu Sans (its
 * advances: digits 0.636, lower-case letters 0.28 to 0.64); the rest is margin for fallbacks.
 */
export const textWidth = (text: string, fontSize: number) => 0.55 * fontSize * text.length;

/** Text made safe inside SVG elements and attribute values. */
export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type Box = readonly [number, number, number, number];
interface Rect { x: number; y: number; w: number; h: number }

const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Where a box's label tab goes (w × h, inside the image of size imageW × imageH): the first of
 * above the box, inside its top, below it and inside its bottom that overlaps no tab placed
 * before, else above (or inside, at the image's edge). Detectors put several boxes on one object,
 * so the first place is often taken.
 */
function placeTab(box: Box, w: number, h: number, imageW: number, imageH: number, placed: readonly Rect[]): Rect {
  const x = Math.max(0, Math.min(box[0], imageW - w));
  const inImage = (y: number): Rect => ({ x, y: Math.max(0, Math.min(y, imageH - h)), w, h });
  const candidates = [box[1] - h, box[1], box[3], box[3] - h].map(inImage);
  return candidates.find((c) => !placed.some((p) => overlaps(c, p))) ?? candidates[0];
}

/** The colour of class `label`. */
export const classColor = (label: number) => PALETTE[label % PALETTE.length];

export interface OverlayOptions {
  /** pixels of the drawing per pixel of the image */
  scale: number;
  /** label text size, in pixels of the drawing */
  fontSize: number;
  /** box line width, in pixels of the drawing */
  strokeWidth: number;
  /** detections scoring below this are not drawn */
  minScore: number;
}

/**
 * The SVG elements that draw `image`'s ground truth and `detections` (above `minScore`, highest
 * score on top) in a `scale`-times enlarged copy of the image placed at the origin. Bad boxes or
 * labels are errors of `op` naming `argument` (the detections' name in op's call).
 */
export function overlaySvg(op: string, argument: string, image: DrawnImage, detections: readonly DrawnDetection[], classNames: readonly string[], o: OverlayOptions): string {
  const w = image.width * o.scale, h = image.height * o.scale;
  const rect = (box: readonly number[]) => {
    const [x1, y1, x2, y2] = box.map((v) => v * o.scale);
    return `x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${Math.max(0, x2 - x1).toFixed(1)}" height="${Math.max(0, y2 - y1).toFixed(1)}"`;
  };
  const parts: string[] = [];
  for (const t of image.truth ?? []) {
    parts.push(`<rect ${rect(t.box)} fill="none" stroke="${GROUND_TRUTH_COLOR}" stroke-width="${o.strokeWidth}" stroke-dasharray="${2 * o.strokeWidth + 2} ${o.strokeWidth + 2}"/>`);
  }
  detections.forEach((d, i) => {
    checkBox(op, `${argument}[${i}].box`, d.box);
    checkLabel(op, `${argument}[${i}].label`, d.label, classNames.length);
  });
  // most confident first: it gets the best place for its label, and its box is drawn last (on top)
  const shown = detections.filter((d) => d.score >= o.minScore).sort((a, b) => b.score - a.score);
  const padding = Math.max(1, Math.round(o.fontSize / 6)), tabH = o.fontSize + 2 * padding;
  const tabs: Rect[] = [], labels: string[] = [];
  for (const d of shown) {
    const color = classColor(d.label);
    const text = `${classNames[d.label]} ${d.score.toFixed(2)}`;
    const scaled: Box = [d.box[0] * o.scale, d.box[1] * o.scale, d.box[2] * o.scale, d.box[3] * o.scale];
    const tab = placeTab(scaled, textWidth(text, o.fontSize) + 2 * padding, tabH, w, h, tabs);
    tabs.push(tab);
    labels.push(
      `<rect x="${tab.x.toFixed(1)}" y="${tab.y.toFixed(1)}" width="${tab.w.toFixed(1)}" height="${tabH}" fill="${color}" fill-opacity="0.85"/>`,
      `<text x="${(tab.x + padding).toFixed(1)}" y="${(tab.y + padding + 0.8 * o.fontSize).toFixed(1)}" font-size="${o.fontSize}" fill="white">${escapeXml(text)}</text>`,
    );
  }
  for (const d of [...shown].reverse()) parts.push(`<rect ${rect(d.box)} fill="none" stroke="${classColor(d.label)}" stroke-width="${o.strokeWidth}"/>`);
  // labels over every box, so that no box line crosses a label's text
  parts.push(...labels);
  return parts.join('');
}
