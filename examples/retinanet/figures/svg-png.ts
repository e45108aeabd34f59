/**
 * SVG to PNG through sharp (libvips with librsvg): text is laid out with the system's fonts
 * through fontconfig, which falls back to any font it has when the ones asked for are missing.
 */
import sharp from 'sharp';

/**
 * The PNG of an SVG document, at the pixel size its width and height attributes give, on white
 * (no alpha channel: the pictures are opaque, and RGB files are smaller). `palette` stores it
 * with at most 256 colours (libimagequant, dithered): about half the bytes for pictures of
 * photographs or noise, where full colour compresses badly.
 */
export async function svgToPng(svg: string, options: { palette?: boolean } = {}): Promise<Buffer> {
  return sharp(Buffer.from(svg, 'utf8')).flatten({ background: '#ffffff' })
    .png({ compressionLevel: 9, adaptiveFiltering: true, palette: options.palette ?? false }).toBuffer();
}
