/** IntermediateLayerGetter: a model's children run in order, some of their outputs returned (torchvision's). */
import { type Tensor, ValueError } from '@kiln/tensor';
import { Module } from '@kiln/nn';

/**
 * Runs a model's direct children in their order, each on the previous one's output, and returns
 * the outputs of the children named in `returnLayers` under their new names, in the order they
 * are computed (torchvision's `IntermediateLayerGetter`). Children after the last one returned are
 * left out, and kept children keep their names, so the state-dict keys are the model's
 * (`body.layer1.0.conv1.weight` inside a BackboneWithFPN). Works for models whose forward is that
 * chain of children, as ResNet's is up to its pooling.
 *
 * @example
 * ```ts
 * const body = new IntermediateLayerGetter(resnet50(), { layer2: '0', layer3: '1', layer4: '2' });
 * const features = body.call(randn([1, 3, 64, 64]));   // Map { '0' => [1, 512, 8, 8], '1' => ..., '2' => ... }
 * ```
 */
export class IntermediateLayerGetter extends Module<[Tensor], Map<string, Tensor>> {
  /** Child name -> name of its output in the result. */
  readonly returnLayers: Readonly<Record<string, string>>;

  constructor(model: Module<never[], unknown>, returnLayers: Readonly<Record<string, string>>) {
    super();
    const children = model.namedChildren();
    const names = new Set(children.map(([n]) => n));
    const missing = Object.keys(returnLayers).filter((n) => !names.has(n));
    if (missing.length > 0 || Object.keys(returnLayers).length === 0) {
      throw new ValueError('IntermediateLayerGetter', 'returnLayers', `names of the model's children (${[...names].join(', ')})`, JSON.stringify(returnLayers));
    }
    this.returnLayers = { ...returnLayers };
    const pending = new Set(Object.keys(returnLayers));
    const self = this as unknown as Record<string, unknown>;
    for (const [name, child] of children) {
      self[name] = child;
      pending.delete(name);
      if (pending.size === 0) break;
    }
  }

  forward(x: Tensor): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    let y = x;
    for (const [name, child] of this.namedChildren()) {
      y = (child as unknown as Module).call(y);
      const as = this.returnLayers[name];
      if (as !== undefined) out.set(as, y);
    }
    return out;
  }
}
