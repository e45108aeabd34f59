/**
 * One image with its ground truth and detections drawn over it, at the image's own size (what an
 * inference command writes for a user's image).
 */
import { type DrawnDetection, type DrawnImage, checkImage, imageToPng } from './drawn-image.js';
import { overlaySvg } from './detections-svg.js';
import { FONT_FAMILY } from './style.js';

/** The SVG document: the image, then boxes and labels sized to the image (text 7 to 18 px high). */
export async function annotatedImageSvg(op: string, image: DrawnImage, detections: readonly DrawnDetection[], classNames: readonly string[], minScore: number): Promise<string> {
  checkImage(op, 'image', image, classNames.length);
  const { width, height } = image;
  const side = Math.max(width, height);
  const fontSize = Math.max(7, Math.min(18, Math.round(side / 40)));
  const strokeWidth = Math.max(1, Math.round(side / 300));
  const href = `data:image/png;base64,${(await imageToPng(image)).toString('base64')}`;
  const overlay = overlaySvg(op, 'detections', image, detections, classNames, { scale: 1, fontSize, strokeWidth, minScore });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT_FAMILY}">`
    + `<image width="${width}" height="${height}" href="${href}"/>${overlay}</svg>`;
}
