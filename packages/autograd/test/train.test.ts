/**
 * End to end: a two-layer network learns a small synthetic classification task (XOR of the signs
 * of two coordinates, which a linear model cannot fit) with plain SGD, its gradients checked
 * against finite differences first.
 */
import { expect, it } from 'vitest';
import { type Tensor, memoryStats, tensor, tidy } from '@kiln/tensor';
import { forEachDevice, randomValues, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { gradcheck, noGrad } from '@kiln/autograd';

settleMemoryBeforeEach();

/** n points around the four corners (±1, ±1), class 1 where the signs differ. */
function xorData(n: number, seed: number): { points: number[][]; labels: number[] } {
  const u = randomValues(seed, 3 * n, 0, 1);
  const points: number[][] = [], labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const sx = u[3 * i] < 0.5 ? -1 : 1, sy = u[3 * i + 1] < 0.5 ? -1 : 1;
    const jitter = (k: number) => 0.35 * (randomValues(seed + 7 + i * 2 + k, 1, -1, 1)[0]);
    points.push([sx + jitter(0), sy + jitter(1)]);
    labels.push(sx === sy ? 0 : 1);
  }
  return { points, labels };
}

interface Params { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor }

function init(dev: string, dtype: 'float32' | 'float64', hidden: number, seed: number): Params {
  // (in tidy: the uncloned tensor is freed now, not by the collector at some later step, which the
  // memory-flat check below would see as the training's memory shrinking)
  const make = (shape: number[], scale: number, s: number) =>
    tidy(() => tensor(randomValues(s, shape.reduce((a, b) => a * b, 1), -scale, scale), { dtype, device: dev }).reshape(shape).clone()).requiresGrad_();
  return { w1: make([2, hidden], 1, seed), b1: make([hidden], 0.1, seed + 1), w2: make([hidden, 2], 1 / Math.sqrt(hidden), seed + 2), b2: make([2], 0.1, seed + 3) };
}

/** Mean cross-entropy of relu(x W1 + b1) W2 + b2 against the labels. */
function loss(p: Params, x: Tensor, y: Tensor): Tensor {
  const hidden = x.matmul(p.w1).add(p.b1).relu();
  const logits = hidden.matmul(p.w2).add(p.b2);
  return logits.logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
}

forEachDevice('training a two-layer network', (dev) => {
  it('has gradients that match finite differences', () => {
    const { points, labels } = xorData(6, 3);
    const x = tensor(points, { dtype: 'float64', device: dev });
    const y = tensor(labels, { dtype: 'int64', device: dev });
    const p = init(dev, 'float64', 5, 11);
    expect(gradcheck((w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) => loss({ w1, b1, w2, b2 }, x, y), [p.w1, p.b1, p.w2, p.b2])).toBe(true);
  });

  it('learns XOR: the loss falls below 0.05, accuracy 100%, memory flat', () => {
    const { points, labels } = xorData(128, 5);
    const x = tensor(points, { dtype: 'float32', device: dev });
    const y = tensor(labels, { dtype: 'int64', device: dev });
    const p = init(dev, 'float32', 16, 21);
    const params = [p.w1, p.b1, p.w2, p.b2];
    const lr = 0.5;
    const step = (): number => tidy(() => {
      const l = loss(p, x, y);
      l.backward();
      noGrad(() => {
        for (const t of params) {
          t.sub_(t.grad!.mul(lr));
          t.grad!.zero_();
        }
      });
      return l.item();
    });
    const first = step();
    let last = first;
    let memoryAt50 = 0;
    for (let i = 1; i < 400; i++) {
      last = step();
      if (i === 50) memoryAt50 = memoryStats(dev).allocated;
    }
    expect(memoryStats(dev).allocated).toBe(memoryAt50);
    expect(first).toBeGreaterThan(0.5);
    expect(last).toBeLessThan(0.05);
    const predicted = noGrad(() => x.matmul(p.w1).add(p.b1).relu().matmul(p.w2).add(p.b2).argmax(1));
    expect(predicted.toArray()).toEqual(labels);
  });
});
