// A RetinaNet small enough for unit tests: a two-level convolutional backbone (no batch norm, so
// a batch's losses are the mean of its images'), 3 anchors per location, 3 classes.
import type { Tensor } from '@kiln/tensor';
import { Conv2d, Module } from '@kiln/nn';
import { AnchorGenerator, RetinaNet, RetinaNetHead, type RetinaNetOptions } from '@kiln/vision';

/** Feature maps at strides 8 and 16, 8 channels. */
export class TinyBackbone extends Module<[Tensor], Map<string, Tensor>> {
  c1 = new Conv2d(3, 8, 3, { stride: 8, padding: 1 });
  c2 = new Conv2d(8, 8, 3, { stride: 2, padding: 1 });
  readonly outChannels = 8;
  forward(x: Tensor): Map<string, Tensor> {
    const a = this.c1.call(x).relu();
    return new Map([['0', a], ['1', this.c2.call(a).relu()]]);
  }
}

/** The tiny RetinaNet on `device`, float64 unless told. */
export function tinyRetinaNet(device: 'cpu' | 'cuda', options: RetinaNetOptions = {}, dtype: 'float32' | 'float64' = 'float64'): RetinaNet<TinyBackbone> {
  const anchorGenerator = new AnchorGenerator([[16], [32]], [[0.5, 1, 2], [0.5, 1, 2]]);
  const model = new RetinaNet(new TinyBackbone(), 3, { anchorGenerator, head: new RetinaNetHead(8, 3, 3, { priorProbability: 0.1 }), ...options });
  return model.to({ device, dtype });
}
