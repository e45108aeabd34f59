/**
 * The foreground/background imbalance of the task, measured as the model's training sees it: the
 * test images' boxes matched to the anchors by the RetinaNet's own AnchorGenerator and Matcher.
 */
import { fromTypedArray, tidy } from '@kiln/tensor';
import { boxIou } from '@kiln/vision';
import type { Settings } from './config.js';
import type { Scene } from './data.js';
import { buildModel, disposeDetector } from './train.js';
import { FOCAL } from './loss.js';

export interface AnchorCounts {
  positives: number;
  negatives: number;
  ignored: number;
  images: number;
  anchorsPerImage: number;
}

/** Anchor counts over `scenes` (on the CPU, with the settings' model's anchors and matcher). */
export function countAnchors(s: Settings, scenes: readonly Scene[]): AnchorCounts {
  const model = buildModel({ ...s, device: 'cpu' }, FOCAL, 0);
  try {
    return tidy(() => {
      const S = s.scenes.imageSize;
      const levels = model.eval().backbone.call(fromTypedArray(new Float32Array(3 * S * S), [1, 3, S, S]));
      const [anchors] = model.anchorGenerator.call(fromTypedArray(new Float32Array(3 * S * S), [1, 3, S, S]), [...levels.values()]);
      const counts: AnchorCounts = { positives: 0, negatives: 0, ignored: 0, images: scenes.length, anchorsPerImage: anchors.shape[0] };
      for (const sc of scenes) {
        const boxes = fromTypedArray(Float32Array.from(sc.objects.flatMap((o) => [...o.box])), [sc.objects.length, 4]);
        const matched = Array.from(model.proposalMatcher.call(boxIou(boxes, anchors)).toTypedArray() as BigInt64Array, Number);
        for (const m of matched) {
          if (m >= 0) counts.positives++;
          else if (m === -1) counts.negatives++;
          else counts.ignored++;
        }
      }
      return counts;
    });
  } finally {
    disposeDetector(model);
  }
}
