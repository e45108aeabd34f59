// Hooks on a whole backward pass, as DistributedDataParallel uses them: a hook after a leaf's
// gradient is accumulated into .grad (PyTorch's register_post_accumulate_grad_hook), callbacks
// queued to run once the pass ran every node (queue_callback), and the leaves a graph reaches.
import { describe, expect, it } from 'vitest';
import { AutogradError, type Tensor, memoryStats, tensor, tidy } from '@kiln/tensor';
import { expectClose, forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { queueCallback, reachableLeaves } from '@kiln/autograd';
import { leaf, leafOf } from './helpers.js';

settleMemoryBeforeEach();

forEachDevice('post-accumulate-grad hooks', (dev) => {
  it('run once per pass after .grad holds the accumulated gradient, in the order gradients become final', () => {
    const w1 = leafOf(dev, [1, 2]), w2 = leafOf(dev, [3, 4]);
    const events: string[] = [];
    w1.registerPostAccumulateGradHook((p) => { expect(p).toBe(w1); events.push(`w1 ${JSON.stringify(p.grad!.toArray())}`); });
    w2.registerPostAccumulateGradHook((p) => { events.push(`w2 ${JSON.stringify(p.grad!.toArray())}`); });
    // w1 is used twice: its hook runs once, with the summed gradient; w2's gradient is final first
    const h = w2.mul(w1);
    const loss = h.mul(w1).sum();
    loss.backward();
    expect(events).toEqual([`w2 ${JSON.stringify([1, 4])}`, `w1 ${JSON.stringify([2 * 1 * 3, 2 * 2 * 4])}`]);
    // a second pass accumulates: the hook sees the sum of both passes
    w1.mul(w1).sum().backward();
    expect(events[2]).toBe(`w1 ${JSON.stringify([6 + 2, 16 + 4])}`);
  });

  it('can be removed, and are refused on non-leaves and tensors that do not require grad', () => {
    const w = leafOf(dev, [1, 2]);
    let calls = 0;
    const handle = w.registerPostAccumulateGradHook(() => { calls++; });
    w.sum().backward();
    handle.remove();
    handle.remove();
    w.sum().backward();
    expect(calls).toBe(1);
    expect(() => w.mul(2).registerPostAccumulateGradHook(() => {})).toThrow(AutogradError);
    expect(() => w.mul(2).registerPostAccumulateGradHook(() => {})).toThrow(/only leaf tensors/);
    expect(() => tensor([1.5], { device: dev }).registerPostAccumulateGradHook(() => {})).toThrow(/does not require grad/);
    expect(() => w.registerPostAccumulateGradHook(3 as unknown as () => void)).toThrow(/expected a function/);
  });
});

forEachDevice('queueCallback', (dev) => {
  it('runs queued callbacks after every node of the pass, before backward returns, including those they queue', () => {
    const a = leafOf(dev, [1, 2]), b = leafOf(dev, [3, 4]);
    const order: string[] = [];
    let queued = false;
    a.registerPostAccumulateGradHook(() => {
      order.push('a');
      if (!queued) {
        queued = true;
        queueCallback(() => {
          // every gradient of the pass is in place
          order.push(`callback b.grad=${JSON.stringify(b.grad?.toArray() ?? null)}`);
          queueCallback(() => order.push('nested'));
        });
      }
    });
    b.registerPostAccumulateGradHook(() => order.push('b'));
    a.add(b.mul(2)).sum().backward();
    order.push('returned');
    expect(order).toEqual(['a', 'b', `callback b.grad=${JSON.stringify([2, 2])}`, 'nested', 'returned']);
  });

  it('is an error outside a backward pass; a callback that throws makes backward throw and frees the pass', () => {
    expect(() => queueCallback(() => {})).toThrow(AutogradError);
    expect(() => queueCallback(() => {})).toThrow(/no backward pass is running/);
    const w = leafOf(dev, [1, 2, 3]);
    w.registerPostAccumulateGradHook(() => queueCallback(() => { throw new Error('callback failed'); }));
    expect(() => w.mul(w).sum().backward()).toThrow('callback failed');
    // the next pass has its own (empty) queue: the failed pass left nothing running
    expect(() => queueCallback(() => {})).toThrow(/no backward pass is running/);
  });

  it('leaves memory as it was after a pass with callbacks', () => {
    const w = leaf(dev, [64, 64]);
    w.registerPostAccumulateGradHook(() => queueCallback(() => {}));
    const step = () => {
      tidy(() => w.mul(w).sum().backward());
      w.grad!.dispose();
      w.grad = null;
    };
    step();
    const before = memoryStats(dev).allocated;
    for (let i = 0; i < 3; i++) step();
    expect(memoryStats(dev).allocated).toBe(before);
  });
});

describe('reachableLeaves', () => {
  it('finds the leaves requiring grad a backward from the roots reaches, through shared subgraphs', () => {
    const w = leafOf('cpu', [1, 2]), v = leafOf('cpu', [3]), unused = leafOf('cpu', [5]);
    const frozen = tensor([2, 2], { dtype: 'float64' });
    const shared = w.mul(frozen);
    const out1 = shared.sum(), out2 = shared.mul(v).sum();
    const leaves = reachableLeaves([out1, out2, 'not a tensor', null]);
    expect([...leaves].sort((x: Tensor, y: Tensor) => x.numel - y.numel)).toEqual([v, w]);
    expect(leaves.has(unused)).toBe(false);
    expect(reachableLeaves([w]).has(w)).toBe(true);                      // a root that is a leaf
    expect(reachableLeaves([frozen.mul(2)]).size).toBe(0);
    expectClose(out2, [2 * 3 * 1 + 2 * 3 * 2]);
  });
});
