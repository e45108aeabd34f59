/**
 * Boxes and labels over one image, as SVG elements: ground truth dashed, each detection in its
 * class's colour with a label (class name and score) in real text on a filled tab, as
 * torchvision's `draw_bounding_boxes` and Detectron's visualiser draw them.
 */
import { type DrawnDetection, type DrawnImage, checkLabel } from './drawn-image.js';
import { GROUND_TRUTH_COLOR, PALETTE } from './style.js';

/**
 * Width of a text in the fonts of FONT_FAMILY, estimated (nothing here measures text): 0.55 em
 * per character. Labels such as "ellipse 0.90" average 0.48 to 0.50 em in DejaVu Sans (its
 * advances: digits 0.636, lower-case letters 0.28 to 0.64); the rest is margin for fallbacks.
 */
export const textWidth = (text: string, fontSize: number) => 0.55 * fontSize * text.length;

/** Text made safe inside SVG elements and attribute values. */
export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

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
 * score on top) in a `scale`-times enlarged copy of the image placed at the origin.
 */
export function overlaySvg(op: string, image: DrawnImage, detections: readonly DrawnDetection[], classNames: readonly string[], o: OverlayOptions): string {
  const w = image.width * o.scale, h = image.height * o.scale;
  const rect = (box: readonly number[]) => {
    const [x1, y1, x2, y2] = box.map((v) => v * o.scale);
    return `x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${Math.max(0, x2 - x1).toFixed(1)}" height="${Math.max(0, y2 - y1).toFixed(1)}"`;
  };
  const parts: string[] = [];
  for (const t of image.truth ?? []) {
    parts.push(`<rect ${rect(t.box)} fill="none" stroke="${GROUND_TRUTH_COLOR}" stroke-width="${o.strokeWidth}" stroke-dasharray="${2 * o.strokeWidth + 2} ${o.strokeWidth + 2}"/>`);
  }
  detections.forEach((d, i) => checkLabel(op, `detections[${i}].label`, d.label, classNames.length));
  const shown = detections.filter((d) => d.score >= o.minScore).sort((a, b) => a.score - b.score);
  const padding = Math.max(1, Math.round(o.fontSize / 6)), tabH = o.fontSize + 2 * padding;
  for (const d of shown) {
    const color = classColor(d.label);
    const text = `${classNames[d.label]} ${d.score.toFixed(2)}`;
    const tabW = textWidth(text, o.fontSize) + 2 * padding;
    const [x1, y1] = [d.box[0] * o.scale, d.box[1] * o.scale];
    // the tab sits above the box, or just inside its top when the box touches the image's top edge
    const tabX = Math.max(0, Math.min(x1, w - tabW)), tabY = Math.min(Math.max(0, y1 - tabH), h - tabH);
    parts.push(
      `<rect ${rect(d.box)} fill="none" stroke="${color}" stroke-width="${o.strokeWidth}"/>`,
      `<rect x="${tabX.toFixed(1)}" y="${tabY.toFixed(1)}" width="${tabW.toFixed(1)}" height="${tabH}" fill="${color}" fill-opacity="0.85"/>`,
      `<text x="${(tabX + padding).toFixed(1)}" y="${(tabY + padding + 0.8 * o.fontSize).toFixed(1)}" font-size="${o.fontSize}" fill="white">${escapeXml(text)}</text>`,
    );
  }
  return parts.join('');
}
