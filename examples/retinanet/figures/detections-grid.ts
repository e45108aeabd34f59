/**
 * The detection picture of a comparison: test images in columns, one row per model, each cell the
 * image with its ground truth and that model's detections, row names on the left and a legend
 * below. Composed as one SVG document (images embedded as PNG data) for sharp to render.
 */
import { ValueError } from '@kiln/tensor';
import { type DrawnDetection, type DrawnImage, checkImage, imageToPng } from './drawn-image.js';
import { classColor, escapeXml, overlaySvg, textWidth } from './detections-svg.js';
import { FONT_FAMILY, GROUND_TRUTH_COLOR } from './style.js';

/** One row of the grid: a model's name and its detections on each image, in the images' order. */
export interface DetectionRow {
  name: string;
  detections: DrawnDetection[][];
}

/** Each image fits a CELL × CELL square of the drawing; GAP separates cells. */
const CELL = 160, GAP = 8, NAME_SIZE = 14, LABEL_SIZE = 11, LEGEND_SIZE = 13;

/**
 * The grid as an SVG document, `renderScale` pixels per drawing unit. Each image is embedded
 * enlarged by whole pixels (nearest-neighbour) to about its drawn size, so that small images stay
 * sharp and the boxes and text are drawn over them at the output's full resolution.
 */
export async function detectionsGridSvg(op: string, rows: readonly DetectionRow[], images: readonly DrawnImage[], classNames: readonly string[], minScore: number, renderScale = 2): Promise<string> {
  images.forEach((image, i) => checkImage(op, `images[${i}]`, image, classNames.length));
  rows.forEach((row, r) => {
    if (row.detections.length !== images.length) {
      throw new ValueError(op, `rows[${r}].detections`, `one list per image (${images.length})`, `${row.detections.length} lists`);
    }
  });
  const nameW = Math.ceil(Math.max(0, ...rows.map((r) => textWidth(r.name, NAME_SIZE)))) + 2 * GAP;
  const gridW = nameW + images.length * (CELL + GAP);
  const legendY = GAP + rows.length * (CELL + GAP) + 4;

  const cells: string[] = [];
  for (const [i, image] of images.entries()) {
    const scale = CELL / Math.max(image.height, image.width);
    const png = await imageToPng(image, Math.max(1, Math.ceil(scale * renderScale)));
    const href = `data:image/png;base64,${png.toString('base64')}`;
    const [w, h] = [image.width * scale, image.height * scale];
    rows.forEach((row, r) => {
      const x = nameW + i * (CELL + GAP), y = GAP + r * (CELL + GAP);
      const overlay = overlaySvg(op, `rows[${r}].detections[${i}]`, image, row.detections[i], classNames, { scale, fontSize: LABEL_SIZE, strokeWidth: 2, minScore });
      cells.push(
        `<g transform="translate(${x} ${y})"><image width="${w}" height="${h}" preserveAspectRatio="none" href="${href}"/>${overlay}</g>`,
      );
    });
  }
  const names = rows.map((row, r) => `<text x="${GAP}" y="${GAP + r * (CELL + GAP) + CELL / 2}" font-size="${NAME_SIZE}" dominant-baseline="middle">${escapeXml(row.name)}</text>`);

  // legend: a swatch and a name per entry, then what the labels say
  const entries: [string, string][] = [['ground truth', GROUND_TRUTH_COLOR], ...classNames.map((n, k) => [n, classColor(k)] as [string, string])];
  const legend: string[] = [];
  let lx = nameW;
  entries.forEach(([name, color], k) => {
    const swatch = k === 0
      ? `<rect x="${lx}" y="${legendY + 2}" width="22" height="10" fill="#333333" stroke="${color}" stroke-width="2" stroke-dasharray="6 4"/>`
      : `<rect x="${lx}" y="${legendY + 2}" width="22" height="10" fill="${color}"/>`;
    legend.push(swatch, `<text x="${lx + 28}" y="${legendY + 12}" font-size="${LEGEND_SIZE}">${escapeXml(name)}</text>`);
    lx += 28 + textWidth(name, LEGEND_SIZE) + 18;
  });
  const caption = `detections scoring at least ${minScore}, labelled with their class and score`;
  legend.push(`<text x="${nameW}" y="${legendY + 34}" font-size="${LEGEND_SIZE}" fill="#555555">${escapeXml(caption)}</text>`);

  const width = Math.ceil(Math.max(gridW, lx, nameW + textWidth(caption, LEGEND_SIZE) + GAP));
  const height = legendY + 44;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width * renderScale}" height="${height * renderScale}" viewBox="0 0 ${width} ${height}" font-family="${FONT_FAMILY}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...names, ...cells, ...legend,
    '</svg>',
  ].join('\n');
}
