// ResNet's structure against torchvision's (parameter counts, strides, dilation), its
// initialisation, the FrozenBatchNorm2d option and argument checks. Numerical agreement with
// torchvision is torchvision-models.test.ts's.
import { expect, it } from 'vitest';
import { type Tensor, ValueError, randn, tidy } from '@kiln/tensor';
import { BatchNorm2d, FrozenBatchNorm2d } from '@kiln/nn';
import { BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50 } from '@kiln/vision';
import { forEachDevice, toNumbers } from '@kiln/tensor/testing';

const count = (m: ResNet): number => m.parameters().reduce((n, p) => n + p.numel, 0);
const std = (t: Tensor): number => {
  const v = toNumbers(t.toTypedArray());
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
};

it("has torchvision's parameter counts (1000 classes)", () => {
  expect(count(resnet18())).toBe(11_689_512);
  expect(count(resnet34())).toBe(21_797_672);
  expect(count(resnet50())).toBe(25_557_032);
});

it('baseChannels scales every stage: 16 gives 16, 32, 64, 128 channels; 64 is torchvision\'s ResNet', () => {
  expect(count(resnet18({ baseChannels: 64 }))).toBe(11_689_512);
  // stem 3·16·49 + its norm, per stage two BasicBlocks of 3x3 convolutions and norms, the 1x1
  // projections of stages 2 to 4, the 128 -> 10 classifier: summed by hand from torchvision's layout
  const small = resnet18({ baseChannels: 16, numClasses: 10 });
  expect(count(small)).toBe(703_386);
  expect(small.outChannels).toBe(128);
  const y = tidy(() => {
    const c1 = small.maxpool.call(small.relu.call(small.bn1.call(small.conv1.call(randn([2, 3, 32, 32], { seed: 4 })))));
    const c2 = small.layer1.call(c1), c3 = small.layer2.call(c2), c4 = small.layer3.call(c3), c5 = small.layer4.call(c4);
    return [c2, c3, c4, c5].map((t) => t.shape);
  });
  expect(y).toEqual([[2, 16, 8, 8], [2, 32, 4, 4], [2, 64, 2, 2], [2, 128, 1, 1]]);
  expect(() => resnet18({ baseChannels: 0 })).toThrow(/ResNet: argument 'baseChannels'/);
  expect(() => resnet50({ baseChannels: 2.5 })).toThrow(ValueError);
});

it("initialises as torchvision: convolutions He-normal (fan_out), norms at 1 and 0; zeroInitResidual zeroes each branch's last norm", () => {
  const net = resnet18();
  const w = (net.layer1.at(0) as BasicBlock).conv2.weight;
  expect(std(w) / Math.sqrt(2 / (64 * 9))).toBeCloseTo(1, 1);
  const bn = net.bn1 as BatchNorm2d;
  expect(toNumbers(bn.weight!.toTypedArray()).every((x) => x === 1)).toBe(true);
  const zeroed = resnet18({ zeroInitResidual: true });
  const block = zeroed.layer2.at(1) as BasicBlock;
  expect(toNumbers((block.bn2 as BatchNorm2d).weight!.toTypedArray()).every((x) => x === 0)).toBe(true);
  expect(toNumbers((block.bn1 as BatchNorm2d).weight!.toTypedArray()).every((x) => x === 1)).toBe(true);
});

forEachDevice('ResNet', (dev) => {
  it('classifies a batch; stages at strides 4, 8, 16, 32; gradients reach every parameter', () => {
    const net = resnet18({ numClasses: 5 }).to(dev);
    tidy(() => {
      const x = randn([2, 3, 64, 48], { seed: 1, device: dev });
      const y = net.call(x);
      expect(y.shape).toEqual([2, 5]);
      const c1 = net.maxpool.call(net.relu.call(net.bn1.call(net.conv1.call(x))));
      const c2 = net.layer1.call(c1), c3 = net.layer2.call(c2), c4 = net.layer3.call(c3), c5 = net.layer4.call(c4);
      expect([c2, c3, c4, c5].map((t) => t.shape)).toEqual([[2, 64, 16, 12], [2, 128, 8, 6], [2, 256, 4, 3], [2, 512, 2, 2]]);
      y.sum().backward();
      expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
      net.zeroGrad();
    });
  });

  it('replaceStrideWithDilation keeps the resolution of the dilated stages (Bottleneck)', () => {
    const net = new ResNet(Bottleneck, [1, 1, 1, 2], { replaceStrideWithDilation: [false, true, true], numClasses: 3 }).to(dev).eval();
    tidy(() => {
      let y = net.maxpool.call(net.relu.call(net.bn1.call(net.conv1.call(randn([1, 3, 64, 64], { seed: 2, device: dev })))));
      y = net.layer4.call(net.layer3.call(net.layer2.call(net.layer1.call(y))));
      expect(y.shape).toEqual([1, 2048, 8, 8]);
      // torchvision: a dilated stage's first block keeps the dilation before it (2, from layer3), the others take the stage's (4)
      const [first, second] = [0, 1].map((i) => (net.layer4.at(i) as Bottleneck).conv2);
      expect([first.stride, first.dilation, second.dilation]).toEqual([[1, 1], [2, 2], [4, 4]]);
    });
  });

  it('takes FrozenBatchNorm2d as its norm layer: no norm parameters, statistics unchanged by training', () => {
    const net = resnet18({ normLayer: (c) => new FrozenBatchNorm2d(c) }).to(dev);
    expect(net.bn1).toBeInstanceOf(FrozenBatchNorm2d);
    expect(count(net)).toBe(11_689_512 - 9_600);   // torchvision's count less the norms' weights and biases (4,800 channels)
    tidy(() => net.train().call(randn([2, 3, 32, 32], { seed: 3, device: dev })));
    expect(toNumbers((net.bn1 as FrozenBatchNorm2d).runningMean.toTypedArray()).every((x) => x === 0)).toBe(true);
  });
});

it('refuses what torchvision refuses', () => {
  expect(() => new BasicBlock(64, 64, { groups: 2 })).toThrow(ValueError);
  expect(() => new BasicBlock(64, 64, { dilation: 2 })).toThrow(/BasicBlock: argument 'dilation'/);
  expect(() => new ResNet(BasicBlock, [2, 2, 2] as unknown as [number, number, number, number])).toThrow(/four positive block counts/);
  expect(() => new ResNet(BasicBlock, [1, 1, 1, 1], { replaceStrideWithDilation: [true] as unknown as [boolean, boolean, boolean] })).toThrow(ValueError);
});
