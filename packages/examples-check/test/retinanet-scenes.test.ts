/**
 * The RetinaNet example's scene options (examples/retinanet/data.ts): `classes` limits the shapes
 * drawn, `maxDistractors` and `texture` make the background plainer, and leaving them out draws
 * the full task exactly as before (the `cuda` preset's scenes).
 */
import { describe, expect, it } from 'vitest';
import { NUM_CLASSES, type SceneOptions, makeScene } from '../../../examples/retinanet/data.js';
import { PRESETS } from '../../../examples/retinanet/config.js';

const BASE: SceneOptions = { imageSize: 64, minObjects: 1, maxObjects: 4, minSide: 10, maxSide: 44 };

/** Standard deviation of one colour plane of an image (S x S values). */
function planeStd(pixels: Float32Array, plane: number, S: number): number {
  const v = pixels.subarray(plane * S * S, (plane + 1) * S * S);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
}

describe('examples/retinanet scenes', () => {
  it('draws only the first `classes` shapes when asked, and every class otherwise', () => {
    const labels = (o: SceneOptions) => new Set(Array.from({ length: 200 }, (_, i) => makeScene(5, i, o).objects.map((g) => g.label)).flat());
    expect([...labels({ ...BASE, classes: 3 })].sort()).toEqual([0, 1, 2]);
    expect([...labels(BASE)].sort()).toEqual(Array.from({ length: NUM_CLASSES }, (_, k) => k));
  });

  it('with the options at their defaults draws the same images as without them', () => {
    for (let i = 0; i < 5; i++) {
      const a = makeScene(3, i, BASE), b = makeScene(3, i, { ...BASE, classes: NUM_CLASSES, maxDistractors: 6, texture: 1 });
      expect(b.pixels).toEqual(a.pixels);
      expect(b.objects).toEqual(a.objects);
    }
  });

  it('with no texture and no distractors, an image without objects varies only by its pixel noise', () => {
    // objects of at most 4 pixels of a 64 x 64 image hardly move the plane's spread: what is left is the noise (sd 0.04)
    const plain: SceneOptions = { ...BASE, minObjects: 1, maxObjects: 1, minSide: 4, maxSide: 4, maxDistractors: 0, texture: 0 };
    const textured: SceneOptions = { ...plain, maxDistractors: 6, texture: 1 };
    const sd = (o: SceneOptions) => Math.max(...Array.from({ length: 20 }, (_, i) => planeStd(makeScene(7, i, o).pixels, 0, 64)));
    expect(sd(plain)).toBeLessThan(0.06);
    expect(sd(textured)).toBeGreaterThan(0.06);
  });

  it('rejects options out of range with a RangeError naming the option', () => {
    expect(() => makeScene(0, 0, { ...BASE, classes: 0 })).toThrow(/makeScene: expected classes an integer in \[1, 6\], got 0/);
    expect(() => makeScene(0, 0, { ...BASE, classes: 7 })).toThrow(RangeError);
    expect(() => makeScene(0, 0, { ...BASE, classes: 2.5 })).toThrow(RangeError);
    expect(() => makeScene(0, 0, { ...BASE, maxDistractors: -1 })).toThrow(/maxDistractors/);
    expect(() => makeScene(0, 0, { ...BASE, texture: -0.5 })).toThrow(/texture/);
    expect(() => makeScene(0, 0, { ...BASE, texture: Number.NaN })).toThrow(/texture/);
  });

  it('the cpu presets draw the easier scenes and the cuda preset the full task', () => {
    for (const p of [PRESETS.fast(), PRESETS.cpu()]) expect(p.scenes).toMatchObject({ classes: 3, maxDistractors: 2, texture: 0.5 });
    const full = PRESETS.cuda().scenes;
    expect([full.classes, full.maxDistractors, full.texture]).toEqual([undefined, undefined, undefined]);
  });
});
