// FeaturePyramidNetwork against its definition composed from its own convolutions (odd sizes, so
// nearest upsampling goes to the lateral's size), its extra blocks, initialisation and torchvision
// version-1 keys; BackboneWithFPN / resnetFpnExtractor's trainable layers and returned stages.
import { expect, it } from 'vitest';
import { type Tensor, ValueError, maxPool2d, randn, relu, tidy, upsampleNearest2d } from '@kiln/tensor';
import { Conv2d, FrozenBatchNorm2d } from '@kiln/nn';
import {
  Conv2dNormActivation, FeaturePyramidNetwork, IntermediateLayerGetter, LastLevelMaxPool, LastLevelP6P7, RetinaNetHead, resnet18, resnetFpnBackbone,
  resnetFpnExtractor,
} from '@kiln/vision';
import { expectClose, expectError, forEachDevice, toNumbers } from '@kiln/tensor/testing';

const close = { rtol: 1e-10, atol: 1e-10 };

forEachDevice('FeaturePyramidNetwork', (dev) => {
  const maps = () => new Map([['a', randn([2, 4, 13, 11], { seed: 1, dtype: 'float64', device: dev })], ['b', randn([2, 6, 7, 6], { seed: 2, dtype: 'float64', device: dev })], ['c', randn([2, 8, 4, 3], { seed: 3, dtype: 'float64', device: dev })]]);

  it('P_i = layer_i(inner_i(C_i) + nearest(P-sum of level i + 1)); LastLevelMaxPool appends pool', () => {
    const fpn = new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: new LastLevelMaxPool() }).to({ device: dev, dtype: 'float64' });
    tidy(() => {
      const x = maps();
      const out = fpn.call(x);
      expect([...out.keys()]).toEqual(['a', 'b', 'c', 'pool']);
      const [ca, cb, cc] = [...x.values()];
      const inner = (i: number, t: Tensor) => fpn.innerBlocks[i].call(t), layer = (i: number, t: Tensor) => fpn.layerBlocks[i].call(t);
      const sc = inner(2, cc);
      const sb = inner(1, cb).add(upsampleNearest2d(sc, { size: [7, 6] }));
      const sa = inner(0, ca).add(upsampleNearest2d(sb, { size: [13, 11] }));
      expectClose(out.get('a')!, layer(0, sa), close);
      expectClose(out.get('b')!, layer(1, sb), close);
      expectClose(out.get('c')!, layer(2, sc), close);
      expectClose(out.get('pool')!, maxPool2d(out.get('c')!, 1, 2, 0), close);
      expect(out.get('pool')!.shape).toEqual([2, 5, 2, 2]);
    });
  });

  it('LastLevelP6P7 works from P5 when its channels equal the pyramid width, from C5 otherwise', () => {
    for (const [inCh, useP5] of [[5, true], [8, false]] as const) {
      const extra = new LastLevelP6P7(inCh, 5);
      expect(extra.useP5).toBe(useP5);
      const fpn = new FeaturePyramidNetwork([4, 6, 8], 5, { extraBlocks: extra }).to({ device: dev, dtype: 'float64' });
      tidy(() => {
        const x = maps();
        const out = fpn.call(x);
        expect([...out.keys()]).toEqual(['a', 'b', 'c', 'p6', 'p7']);
        const source = useP5 ? out.get('c')! : x.get('c')!;
        const p6 = extra.p6.call(source);
        expectClose(out.get('p6')!, p6, close);
        expectClose(out.get('p7')!, extra.p7.call(relu(p6)), close);
      });
    }
  });
});

it("initialises as torchvision: He-uniform with a = 1 (bound sqrt(3 / fanIn)), zero biases; norm layers drop the biases", () => {
  const fpn = new FeaturePyramidNetwork([64, 128], 32, { extraBlocks: new LastLevelP6P7(32, 32) });
  for (const m of fpn.modules()) {
    if (!(m instanceof Conv2d)) continue;
    const bound = Math.sqrt(3 / (m.inChannels * m.kernelSize[0] * m.kernelSize[1]));
    const w = toNumbers(m.weight.toTypedArray());
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(toNumbers(m.bias!.toTypedArray()).every((b) => b === 0)).toBe(true);
  }
  const normed = new FeaturePyramidNetwork([8], 4, { normLayer: (c) => new FrozenBatchNorm2d(c) });
  expect(Object.keys(normed.stateDict())).toEqual(['innerBlocks.0.0.weight', 'innerBlocks.0.1.weight', 'innerBlocks.0.1.bias', 'innerBlocks.0.1.runningMean',
    'innerBlocks.0.1.runningVar', 'layerBlocks.0.0.weight', 'layerBlocks.0.1.weight', 'layerBlocks.0.1.bias', 'layerBlocks.0.1.runningMean', 'layerBlocks.0.1.runningVar']);
});

it("loads torchvision's version-1 keys (innerBlocks.0.weight) as today's (innerBlocks.0.0.weight)", () => {
  const src = new FeaturePyramidNetwork([4, 6], 5), dst = new FeaturePyramidNetwork([4, 6], 5);
  const old = Object.fromEntries(Object.entries(src.stateDict()).map(([k, t]) => [k.replace(/^(inner|layer)Blocks\.(\d)\.0\./, '$1Blocks.$2.'), t]));
  expect(Object.keys(old)).toContain('innerBlocks.1.weight');
  dst.loadStateDict(old);
  expect(toNumbers(dst.layerBlocks[1].at(0).stateDict().weight.toTypedArray())).toEqual(toNumbers(src.layerBlocks[1].at(0).stateDict().weight.toTypedArray()));
});

it('refuses an empty pyramid and the wrong number of maps', () => {
  expect(() => new FeaturePyramidNetwork([], 4)).toThrow(ValueError);
  const fpn = new FeaturePyramidNetwork([4, 6], 5);
  expect(() => fpn.call(new Map([['a', randn([1, 4, 4, 4])]]))).toThrow(/2 feature maps \(one per inChannelsList entry\)/);
  // misspelt options were ignored (extra_blocks: no extra block was added, kernel_size: 3 by default)
  expectError(() => new FeaturePyramidNetwork([4, 6], 5, { extra_blocks: new LastLevelMaxPool() } as never), ValueError, { op: 'FeaturePyramidNetwork', argument: 'options', expected: 'only the options extraBlocks, normLayer', got: '"extra_blocks"' });
  expectError(() => new Conv2dNormActivation(4, 8, { kernel_size: 1 } as never), ValueError, { op: 'Conv2dNormActivation', argument: 'options', got: '"kernel_size"' });
  expectError(() => resnet18({ num_classes: 10 } as never), ValueError, { op: 'ResNet', argument: 'options', got: '"num_classes"' });
  expectError(() => resnetFpnBackbone({ backboneName: 'resnet18', trainable_layers: 5 } as never), ValueError, { op: 'resnetFpnBackbone', argument: 'options', got: '"trainable_layers"' });
  expectError(() => resnetFpnExtractor(resnet18(), 3, { returned_layers: [4] } as never), ValueError, { op: 'resnetFpnExtractor', argument: 'options', got: '"returned_layers"' });
  expectError(() => new RetinaNetHead(8, 9, 2, { prior_probability: 0.5 } as never), ValueError, { op: 'RetinaNetHead', argument: 'options', expected: 'only the options priorProbability, normLayer', got: '"prior_probability"' });
  // a plain object (torchvision's OrderedDict habit) was a TypeError from x.keys()
  expectError(() => fpn.call({ a: randn([1, 4, 4, 4]), b: randn([1, 6, 2, 2]) } as never), ValueError, { op: 'FeaturePyramidNetwork', argument: 'x', expected: 'a Map of feature maps by name (as the backbone returns)', got: 'an Object' });
});

it('IntermediateLayerGetter keeps the children up to the last one returned, under their names', () => {
  const body = new IntermediateLayerGetter(resnet18(), { layer1: 'x', layer3: 'y' });
  expect(body.namedChildren().map(([n]) => n)).toEqual(['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3']);
  const out = tidy(() => [...body.call(randn([1, 3, 32, 32], { seed: 5 })).entries()].map(([k, t]) => [k, t.shape]));
  expect(out).toEqual([['x', [1, 64, 8, 8]], ['y', [1, 256, 2, 2]]]);
  expect(() => new IntermediateLayerGetter(resnet18(), { layer9: '0' })).toThrow(/names of the model's children/);
  expect(() => new IntermediateLayerGetter(resnet18(), {})).toThrow(ValueError);
});

it("resnetFpnExtractor freezes all but the last trainableLayers stages (5: bn1 too), as torchvision's", () => {
  const trainable = (k: number) => {
    const b = resnetFpnExtractor(resnet18(), k, { returnedLayers: [2, 3, 4] });
    const names = b.body.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n.split('.')[0]);
    return [...new Set(names)];
  };
  expect(trainable(0)).toEqual([]);
  expect(trainable(3)).toEqual(['layer2', 'layer3', 'layer4']);
  expect(trainable(5)).toEqual(['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4']);
  const b = resnetFpnExtractor(resnet18(), 3, { returnedLayers: [2, 3, 4] });
  expect(b.fpn.innerBlocks.map((m) => (m.at(0) as Conv2d).inChannels)).toEqual([128, 256, 512]);
  expect(b.fpn.parameters().every((p) => p.requiresGrad)).toBe(true);
  expect(() => resnetFpnExtractor(resnet18(), 6)).toThrow(ValueError);
  expect(() => resnetFpnExtractor(resnet18(), 3, { returnedLayers: [0, 1] })).toThrow(/stage numbers in \[1, 4\]/);
  const named = resnetFpnBackbone({ backboneName: 'resnet18' });
  expect(Object.fromEntries(named.body.namedChildren()).bn1).toBeInstanceOf(FrozenBatchNorm2d);
  expect(tidy(() => [...named.call(randn([1, 3, 64, 64], { seed: 6 })).entries()].map(([k, t]) => [k, t.shape]))).toEqual([
    ['0', [1, 256, 16, 16]], ['1', [1, 256, 8, 8]], ['2', [1, 256, 4, 4]], ['3', [1, 256, 2, 2]], ['pool', [1, 256, 1, 1]],
  ]);
});
