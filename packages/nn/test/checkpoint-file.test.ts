// Checkpoint files: a tree of values and tensors survives the round trip (dtypes, nesting, tags
// for bigint and non-finite numbers), the tensors are plain safetensors entries, and bad trees
// and files are refused; loading leaves nothing allocated once disposed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type Tensor, ValueError, memoryStats, tensor } from '@kiln/tensor';
import { disposeCheckpoint, loadCheckpoint, loadStateDictFile, saveCheckpoint, saveStateDict } from '@kiln/nn';
import { forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { values } from './test-helpers.js';

settleMemoryBeforeEach();

const dir = mkdtempSync(join(tmpdir(), 'kiln-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

forEachDevice('saveCheckpoint / loadCheckpoint', (dev) => {
  it('round-trips a tree of tensors and values; tensors come back on the CPU', () => {
    const path = join(dir, `tree-${dev}.safetensors`);
    const w = tensor([[1.5, -2], [3, 4]], { dtype: 'float32', device: dev });
    const tree = {
      model: { 'layer1.0.weight': w, 'bn.numBatchesTracked': tensor([7], { dtype: 'int64', device: dev }) },
      optimizer: { state: { 0: { step: 3, expAvg: tensor([0.25, 0.5], { dtype: 'float64', device: dev }) } }, paramGroups: [{ lr: 0.1, betas: [0.9, 0.999], params: [0] }] },
      step: 42, done: false, note: 'warm-up', nothing: null, seed: 67280421310721n, big: 2n ** 64n - 1n,
      specials: [Number.NaN, Infinity, -Infinity, -0, 1e-310],
      mask: tensor([true, false, true], { device: dev }),
    };
    saveCheckpoint(path, tree);
    const back = loadCheckpoint(path) as typeof tree & { model: Record<string, Tensor> };
    expect(back.step).toBe(42);
    expect(back.done).toBe(false);
    expect(back.note).toBe('warm-up');
    expect(back.nothing).toBeNull();
    expect(back.seed).toBe(67280421310721n);
    expect(back.big).toBe(2n ** 64n - 1n);
    expect(back.specials.map((x) => Object.is(x, -0) ? '-0' : String(x))).toEqual(['NaN', 'Infinity', '-Infinity', '-0', '1e-310']);
    expect(back.optimizer.paramGroups).toEqual([{ lr: 0.1, betas: [0.9, 0.999], params: [0] }]);
    const t = back.model['layer1.0.weight'];
    expect([t.device.type, t.dtype, t.shape]).toEqual(['cpu', 'float32', [2, 2]]);
    expect(values(t)).toEqual([1.5, -2, 3, 4]);
    expect(back.model['bn.numBatchesTracked'].dtype).toBe('int64');
    expect(values(back.optimizer.state[0].expAvg)).toEqual([0.25, 0.5]);
    expect((back.mask).toArray()).toEqual([true, false, true]);
    // the tensors are ordinary safetensors entries, named by their path in the tree
    const entries = loadStateDictFile(path);
    expect(Object.keys(entries).sort()).toEqual(['mask', 'model/bn.numBatchesTracked', 'model/layer1.0.weight', 'optimizer/state/0/expAvg']);
    for (const e of Object.values(entries)) e.dispose();
    disposeCheckpoint(back);
  });

  it('leaves nothing allocated once disposed', () => {
    const path = join(dir, `mem-${dev}.safetensors`);
    saveCheckpoint(path, { a: tensor([1, 2, 3], { dtype: 'float32', device: dev }), list: [tensor([4], { dtype: 'float64', device: dev })] });
    const before = memoryStats('cpu').allocated;
    for (let i = 0; i < 5; i++) disposeCheckpoint(loadCheckpoint(path));
    expect(memoryStats('cpu').allocated).toBe(before);
  });
});

it('refuses values it cannot write back as they were, naming where they are', () => {
  const path = join(dir, 'bad.safetensors');
  expect(() => saveCheckpoint(path, { a: { $tensor: 'x' } })).toThrow(ValueError);
  expect(() => saveCheckpoint(path, { 'a/b': 1 })).toThrow(/key 'a\/b'/);
  expect(() => saveCheckpoint(path, { when: new Date(0) as unknown as number })).toThrow(/Date at 'when'/);
  expect(() => saveCheckpoint(path, { f: (() => 1) as unknown as number })).toThrow(ValueError);
  const disposed = tensor([1]);
  disposed.dispose();
  expect(() => saveCheckpoint(path, { t: disposed })).toThrow();
});

it('refuses files that are not checkpoints', () => {
  const plain = join(dir, 'plain.safetensors');
  saveStateDict({ w: tensor([1]) }, plain);
  expect(() => loadCheckpoint(plain)).toThrow(/a checkpoint \(a 'kiln.checkpoint' metadata entry\)/);
  const broken = join(dir, 'broken.safetensors');
  writeFileSync(broken, new Uint8Array([1, 2, 3]));
  expect(() => loadCheckpoint(broken)).toThrow(ValueError);
});
