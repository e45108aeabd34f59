/**
 * sharp, loaded on first use, and its pipelines read as RGB pixels: the part of image decoding
 * whose types come from sharp. Kept out of the package's public modules, so that the published
 * declarations never name sharp's types (a user without sharp type-checks too).
 */
import { ValueError } from '@kiln/tensor';
import type { Sharp, SharpOptions } from 'sharp';
import { MissingDependencyError, type RawImage } from './image.js';

type SharpFactory = (input?: string | Buffer | Uint8Array, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | null = null;

/** sharp, imported once on first use. */
export function loadSharp(op: string): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => (m.default ?? m) as unknown as SharpFactory).catch((e: unknown) => {
    sharpModule = null;
    throw new MissingDependencyError(
      `${op}: decoding images needs the optional dependency 'sharp', which could not be loaded (${(e as Error).message}); install it with: npm install sharp`,
    );
  });
  return sharpModule;
}

/** The pixels of a sharp pipeline as RGB bytes. */
export async function toRawImage(pipeline: Sharp): Promise<RawImage> {
  // greyscale becomes three equal channels; alpha is dropped (PIL's convert('RGB'))
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new ValueError('readImage', 'file', 'an image that converts to 3 channels', `${info.channels} channels`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}
