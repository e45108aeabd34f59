/**
 * Decoding image files through sharp (libvips), an optional dependency loaded on first use: the
 * rest of @kiln/vision works without it, and a missing sharp is an error that says how to add it.
 */
import { KilnError, type Tensor, ValueError, describeValue, fromTypedArray } from '@kiln/tensor';
import { loadSharp, toRawImage } from './sharp.js';

/** A decoded image: 8-bit RGB pixels, row-major, channels interleaved (HWC). */
export interface RawImage {
  /** height × width × 3 bytes. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** An optional package that a function needs is not installed. */
export class MissingDependencyError extends KilnError {}

/**
 * Decodes an image file (JPEG, PNG, WebP, TIFF, GIF, AVIF...) or its bytes into RGB pixels, with
 * sharp. EXIF orientation is not applied (as PIL and torchvision's readers).
 *
 * @example
 * ```ts
 * const img = await readImage('images/000000000139.jpg');   // { data, width: 640, height: 426 }
 * const x = imageToTensor(img);                            // float32 [3, 426, 640] in [0, 1]
 * ```
 */
export async function readImage(source: string | Uint8Array): Promise<RawImage> {
  const sharp = await loadSharp('readImage');
  return toRawImage(sharp(source));
}

/**
 * An RGB image as a float32 [3, H, W] tensor with values in [0, 1] (torchvision's `to_tensor`).
 *
 * @example
 * ```ts
 * const x = imageToTensor(await readImage('a.png'));
 * ```
 */
export function imageToTensor(image: RawImage): Tensor {
  if (!(image?.data instanceof Uint8Array) || !Number.isSafeInteger(image.width) || !Number.isSafeInteger(image.height)) {
    throw new ValueError('imageToTensor', 'image', 'decoded pixels { data: Uint8Array, width, height } (readImage)', describeValue(image));
  }
  const { data, width: W, height: H } = image;
  if (data.length !== W * H * 3) throw new ValueError('imageToTensor', 'image', `${W} × ${H} × 3 bytes`, `${data.length} bytes`);
  const out = new Float32Array(3 * H * W), plane = H * W;
  for (let p = 0; p < plane; p++) {
    out[p] = data[3 * p] / 255;
    out[plane + p] = data[3 * p + 1] / 255;
    out[2 * plane + p] = data[3 * p + 2] / 255;
  }
  return fromTypedArray(out, [3, H, W]);          // no copy: the tensor views `out`
}
