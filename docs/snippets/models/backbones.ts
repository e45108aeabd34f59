import assert from 'node:assert/strict';
import { randn, tidy } from '@kiln/tensor';
import { FrozenBatchNorm2d } from '@kiln/nn';
import { BackboneWithFPN, IntermediateLayerGetter, LastLevelP6P7, resnet18, resnetFpnBackbone } from '@kiln/vision';

const x = randn([1, 3, 64, 64], { seed: 1 });

tidy(() => {
  // A classifier, torchvision's layout and initialisation: [1, 3, 64, 64] -> [1, 10].
  const classifier = resnet18({ numClasses: 10 }).eval();
  assert.deepEqual(classifier.call(x).shape, [1, 10]);

  // Narrower, for small images and training from scratch: baseChannels (torchvision's fixed 64)
  // sets the stem's and layer1's channels, each later stage doubles them.
  const small = resnet18({ baseChannels: 16, numClasses: 10 });
  assert.equal(small.outChannels, 128);

  // A detection backbone: batch norms frozen (their statistics and affine fixed, as when fine-tuning
  // from ImageNet weights), the outputs of three stages, then a feature pyramid with P6 and P7.
  const resnet = resnet18({ normLayer: (c) => new FrozenBatchNorm2d(c) });
  const body = new IntermediateLayerGetter(resnet, { layer2: 'c3', layer3: 'c4', layer4: 'c5' });
  assert.deepEqual([...body.call(x).values()].map((f) => f.shape), [[1, 128, 8, 8], [1, 256, 4, 4], [1, 512, 2, 2]]);

  const fpn = new BackboneWithFPN(resnet, { layer2: '0', layer3: '1', layer4: '2' }, [128, 256, 512], 256, {
    extraBlocks: new LastLevelP6P7(256, 256),
  });
  const levels = fpn.call(x);                      // finest first, every level 256 channels
  assert.deepEqual([...levels.keys()], ['0', '1', '2', 'p6', 'p7']);
  assert.deepEqual(levels.get('p7')!.shape, [1, 256, 1, 1]);

  // The same by name, as torchvision's resnet_fpn_backbone (FrozenBatchNorm2d, 3 trainable stages).
  const named = resnetFpnBackbone({ backboneName: 'resnet18', returnedLayers: [2, 3, 4] });
  const trainable = named.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
  assert.ok(trainable.every((n) => !n.startsWith('body.layer1') && !n.startsWith('body.conv1')));
});
