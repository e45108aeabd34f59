// Module: discovery of parameters, buffers and submodules from properties, modes, device and dtype
// moves, gradients, state dicts and their safetensors files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Tensor, DTypeError, ShapeError, ValueError, emptyOn, profile, randn, device as toDevice, tensor, zeros, AutogradError } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import {
  BatchNorm2d, BufferTensor, Conv2d, Dropout, Linear, Module, Parameter, ReLU, Sequential, decodeStateDict, encodeStateDict,
  fromTorchKeys, loadStateDictFile, saveStateDict,
} from '@kiln/nn';
import { expectClose, forEachDevice, toNumbers, expectError } from '@kiln/tensor/testing';

const dir = mkdtempSync(join(tmpdir(), 'kiln-nn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());

class Block extends Module {
  conv = new Conv2d(2, 4, 3, { padding: 1 });
  norm = new BatchNorm2d(4);
  act = new ReLU();
  forward(x: Tensor): Tensor {
    return this.act.call(this.norm.call(this.conv.call(x)));
  }
}

class Net extends Module {
  blocks = [new Block(), new Block()];
  scale = new Parameter(tensor([2], { dtype: 'float32' }));
  counter = new BufferTensor(zeros([1], { dtype: 'int64' }));
  label = 'not a member';
  head: Linear;
  constructor() {
    super();
    this.head = new Linear(4, 3);
  }
  forward(x: Tensor): Tensor {
    return this.head.call(this.blocks[1].call(x).mean([2, 3]).mul(this.scale));
  }
}

describe('Module in the profiler', () => {
  it("each module's forward is a range named after its class, holding its submodules' ranges and kernels", () => {
    const block = new Block();
    const x = randn([1, 2, 5, 5], { seed: 1 });
    const prof = profile(() => block.call(x).dispose());
    const { ranges, kernels } = prof.events();
    expect(ranges.map((r) => r.name)).toEqual(['nn.Module: Block', 'nn.Module: Conv2d', 'nn.Module: BatchNorm2d', 'nn.Module: ReLU']);
    expect(ranges.slice(1).every((r) => r.parent === 0)).toBe(true);
    expect(kernels.filter((k) => k.parent === 3).map((k) => k.name)).toEqual(['relu']);
    const blockRow = prof.keyAverages().find((r) => r.name === 'nn.Module: Block')!;
    expect(blockRow.deviceTotal).toBeGreaterThan(0);
    x.dispose();
  });
});

describe('Module discovery', () => {
  it('finds parameters, buffers and children from properties, in assignment order, with dotted names', () => {
    const net = new Net();
    // as PyTorch: each module's own parameters, then its submodules' (depth first)
    expect(net.namedParameters().map(([k]) => k)).toEqual([
      'scale', 'blocks.0.conv.weight', 'blocks.0.conv.bias', 'blocks.0.norm.weight', 'blocks.0.norm.bias',
      'blocks.1.conv.weight', 'blocks.1.conv.bias', 'blocks.1.norm.weight', 'blocks.1.norm.bias',
      'head.weight', 'head.bias',
    ]);
    expect(net.namedBuffers().map(([k]) => k)).toEqual([
      'counter', 'blocks.0.norm.runningMean', 'blocks.0.norm.runningVar', 'blocks.0.norm.numBatchesTracked',
      'blocks.1.norm.runningMean', 'blocks.1.norm.runningVar', 'blocks.1.norm.numBatchesTracked',
    ]);
    // the state dict interleaves them per module, as PyTorch's state_dict
    expect(Object.keys(net.stateDict()).slice(0, 8)).toEqual([
      'scale', 'counter', 'blocks.0.conv.weight', 'blocks.0.conv.bias', 'blocks.0.norm.weight', 'blocks.0.norm.bias',
      'blocks.0.norm.runningMean', 'blocks.0.norm.runningVar',
    ]);
    expect(net.namedChildren().map(([k]) => k)).toEqual(['blocks.0', 'blocks.1', 'head']);
    expect(net.namedModules().map(([k]) => k)).toEqual([
      '', 'blocks.0', 'blocks.0.conv', 'blocks.0.norm', 'blocks.0.act', 'blocks.1', 'blocks.1.conv', 'blocks.1.norm', 'blocks.1.act', 'head',
    ]);
    expect(net.parameters(false)).toEqual([net.scale]);
    expect(net.parameters().every((p) => p instanceof Parameter && p.requiresGrad && p.isLeaf)).toBe(true);
  });

  it('lists a shared parameter or module once', () => {
    const shared = new Linear(2, 2);
    const seq = new Sequential(shared, new ReLU(), shared);
    expect(seq.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias']);
    expect(seq.modules().length).toBe(3);     // seq, shared, relu
    expect(seq.length).toBe(3);
    expect(seq.at(-1)).toBe(shared);
    expectError(() => seq.at(3), ValueError, { op: 'Sequential.at', argument: 'index', expected: 'an index in [-3, 2]', got: '3' });
    expectError(() => new Sequential(new ReLU(), ((x: Tensor) => x) as never), ValueError, { op: 'Sequential', argument: 'modules[1]', expected: 'a Module', got: 'function' });
  });

  it('train() and eval() reach every submodule', () => {
    const net = new Net();
    net.eval();
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
    // a truthy non-boolean ('eval', 0 from a flag) set every training flag to that value
    expectError(() => net.train('no' as unknown as boolean), ValueError, { op: 'Net.train', argument: 'mode', expected: 'true or false', got: '"no"' });
    expect(net.modules().every((m) => m.training === true)).toBe(true);
  });

  it("apply() visits every submodule, children first; requiresGrad_() freezes and unfreezes every parameter", () => {
    const net = new Net();
    const seen: string[] = [];
    expect(net.apply((m) => seen.push(m.constructor.name))).toBe(net);
    expect(seen.length).toBe(net.modules().length);
    expect(seen[seen.length - 1]).toBe('Net');
    // PyTorch's order (post-order, children in order): Sequential(Sequential(L1, R), L2) visits L1, R, inner, L2, outer
    const l1 = new Linear(1, 1), r = new ReLU(), l2 = new Linear(1, 1), inner = new Sequential(l1, r), outer = new Sequential(inner, l2);
    const order: unknown[] = [];
    outer.apply((m) => order.push(m));
    expect(order).toEqual([l1, r, inner, l2, outer]);
    expect(net.requiresGrad_(false).parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect(net.requiresGrad_().parameters().every((p) => p.requiresGrad)).toBe(true);
    expectError(() => net.apply('x' as never), ValueError, { op: 'Net.apply', argument: 'fn' });
    expectError(() => net.requiresGrad_(0 as never), ValueError, { op: 'Net.requiresGrad_', argument: 'requiresGrad' });
  });

  it('Parameter shares the elements of its source and refuses integer dtypes', () => {
    const t = tensor([1, 2, 3], { dtype: 'float32' });
    const p = new Parameter(t);
    expect(p.storage).toBe(t.storage);
    expect(p.requiresGrad).toBe(true);
    expect(new Parameter(t, false).requiresGrad).toBe(false);
    expectError(() => new Parameter(tensor([1, 2], { dtype: 'int64' })), AutogradError, { op: 'requiresGrad', expected: 'a floating-point tensor', got: 'int64' });
  });

  it('zeroGrad drops gradients, or zeroes them in place', () => {
    const lin = new Linear(3, 2);
    lin.weight.grad = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' });            // as backward would leave them
    lin.bias!.grad = tensor([1, 1], { dtype: 'float32' });
    const g = lin.weight.grad;
    lin.zeroGrad(false);
    expect(lin.weight.grad).toBe(g);
    expect(values(g)).toEqual([0, 0, 0, 0, 0, 0]);
    lin.zeroGrad();
    expect(lin.weight.grad).toBeNull();
    expect(lin.bias!.grad).toBeNull();
    expectError(() => lin.zeroGrad(0 as unknown as boolean), ValueError, { op: 'Linear.zeroGrad', argument: 'setToNone', expected: 'true or false', got: '0' });
  });

  it('to(dtype) converts floating parameters and buffers, keeping integer buffers', () => {
    const net = new Net();
    const before = values(net.head.weight);
    net.to('float64');
    expect(net.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad)).toBe(true);
    expect(net.blocks[0].norm.runningMean!.dtype).toBe('float64');
    expect(net.blocks[0].norm.numBatchesTracked!.dtype).toBe('int64');
    expect(net.counter.dtype).toBe('int64');
    expect(values(net.head.weight)).toEqual(before);
    expectError(() => net.to('int32'), DTypeError, { op: 'Module.to', argument: 'dtype', expected: 'a floating dtype', got: 'int32' });
    // tied weights stay tied
    const a = new Linear(2, 2), b = new Linear(2, 2);
    b.weight = a.weight;
    new Sequential(a, b).to('float64');
    expect(b.weight).toBe(a.weight);
    expect(a.weight.dtype).toBe('float64');
    expect(a.weight.isDisposed).toBe(false);
  });
});

forEachDevice('Module.to(device)', (dev) => {
  it('moves parameters (with their gradients) and buffers', () => {
    const net = new Net();
    net.head.weight.grad = tensor(new Array(12).fill(0.5), { dtype: 'float32' }).reshape([3, 4]);
    const before = net.stateDict();
    const copies = Object.fromEntries(Object.entries(before).map(([k, t]) => [k, values(t)]));
    net.to(dev);
    const after = net.stateDict();
    for (const [k, t] of Object.entries(after)) {
      expect(t.device).toBe(toDevice(dev));
      expect(values(t), k).toEqual(copies[k]);
    }
    expect(net.head.weight).toBeInstanceOf(Parameter);
    const shared = new Linear(2, 2);
    const seq = new Sequential(shared, new ReLU(), shared).to(dev);
    expect(seq.at(0)).toBe(seq.at(2));
    expect(seq.parameters().length).toBe(2);
    expect(seq.parameters().every((p) => p.device === toDevice(dev) && !p.isDisposed)).toBe(true);
    expect(net.head.weight.grad.device).toBe(toDevice(dev));
    const y = net.call(tensor(new Array(2 * 2 * 5 * 5).fill(0.5), { device: dev }).reshape([2, 2, 5, 5]));
    expect(y.shape).toEqual([2, 3]);
    expect(y.device).toBe(toDevice(dev));
  });

  it('loadStateDict copies across devices and dtypes', () => {
    const a = new Linear(3, 2), b = new Linear(3, 2, { dtype: 'float64', device: dev });
    b.loadStateDict(a.stateDict());
    expectClose(b.weight, values(a.weight));
    expect(b.weight.device).toBe(toDevice(dev));
  });
});

describe('state dicts', () => {
  it('loadStateDict checks keys and shapes before writing anything', () => {
    const a = new Sequential(new Linear(3, 2), new ReLU(), new Linear(2, 1));
    const b = new Sequential(new Linear(3, 2), new ReLU(), new Linear(2, 1));
    const w0 = values(b.at(0).stateDict().weight);
    const state = { ...a.stateDict() };
    delete state['2.bias'];
    expectError(() => b.loadStateDict(state), ValueError, { op: 'loadStateDict', argument: 'state', expected: "the module's keys exactly (pass { strict: false } to load a subset)", got: "missing keys '2.bias'" });
    expectError(() => b.loadStateDict({ ...a.stateDict(), extra: tensor([1]) }), ValueError, { op: 'loadStateDict', argument: 'state', expected: "the module's keys exactly (pass { strict: false } to load a subset)", got: "unexpected keys 'extra'" });
    const wrong = { ...a.stateDict(), '2.weight': tensor([[1, 2, 3]]) };
    expectError(() => b.loadStateDict(wrong), ShapeError, { op: 'loadStateDict', argument: "state['2.weight']", expected: "shape [1, 2] (the module's)", got: '[1, 3]' });
    expect(values(b.at(0).stateDict().weight)).toEqual(w0);          // nothing was written
    // a value that is not a tensor (an array, null) is an error naming its key, not a TypeError
    const arrays = { ...a.stateDict(), '0.weight': [[1, 2, 3], [4, 5, 6]] as unknown as Tensor };
    expectError(() => b.loadStateDict(arrays), ValueError, { op: 'loadStateDict', argument: "state['0.weight']", expected: 'a Tensor', got: '[[1, 2, 3], [4, 5, 6]]' });
    expectError(() => b.loadStateDict({ ...a.stateDict(), '2.bias': null as unknown as Tensor }), ValueError, { op: 'loadStateDict', argument: "state['2.bias']", expected: 'a Tensor', got: 'null' });
    // strict: 'false' was truthy (strict), a misspelt key ignored (strict)
    expectError(() => b.loadStateDict(state, { strict: 'false' as unknown as boolean }), ValueError, { op: 'loadStateDict', argument: 'strict', expected: 'true or false', got: '"false"' });
    expectError(() => b.loadStateDict(state, { stict: false } as never), ValueError, { op: 'loadStateDict', argument: 'options', expected: 'only the options strict', got: '"stict"' });
    expect(values(b.at(0).stateDict().weight)).toEqual(w0);
    const r = b.loadStateDict(state, { strict: false });
    expect(r).toEqual({ missingKeys: ['2.bias'], unexpectedKeys: [] });
    expect(values(b.at(0).stateDict().weight)).toEqual(values(a.at(0).stateDict().weight));
  });

  it('save and load round-trip every dtype through a safetensors file', () => {
    class Mixed extends Module {
      a = new Parameter(tensor([[1.5, -2], [3, 4]], { dtype: 'float32' }));
      b = new Parameter(tensor([0.1, 0.2, 0.3], { dtype: 'float64' }));
      c = new Parameter(tensor([1.5, -0.25], { dtype: 'float16' }));
      d = new Parameter(tensor([2.5, 1024], { dtype: 'bfloat16' }));
      e = new BufferTensor(tensor([1, -2, 2 ** 40], { dtype: 'int64' }));
      f = new BufferTensor(tensor([7, 8], { dtype: 'int32' }));
      g = new BufferTensor(tensor([true, false, true]));
      h = new BufferTensor(emptyOn([0, 3], 'float32', toDevice('cpu')));
      forward(x: Tensor): Tensor { return x; }
    }
    const src = new Mixed();
    const path = join(dir, 'mixed.safetensors');
    src.save(path);
    const dst = new Mixed();
    noGrad(() => { for (const t of Object.values(dst.stateDict())) t.zero_(); });
    dst.load(path);
    for (const [k, t] of Object.entries(src.stateDict())) {
      const u = dst.stateDict()[k];
      expect(u.dtype).toBe(t.dtype);
      expect(u.toArray(), k).toEqual(t.toArray());
    }
    // the layout is safetensors: u64 header length, JSON header, data
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> };
    expect(header.a).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect(header.c.dtype).toBe('F16');
    expect(header.d.dtype).toBe('BF16');
    expect(header.e.dtype).toBe('I64');
    expect(header.g.dtype).toBe('BOOL');
    expect(header.__metadata__).toEqual({ format: 'kiln' });
    expect(bytes.length).toBe(8 + n + header.h.data_offsets[1]);
    expect(new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + n, bytes.byteOffset + 8 + n + 16))).toEqual(new Float32Array([1.5, -2, 3, 4]));
  });

  it('saveStateDict / loadStateDictFile work on plain records; corrupt files are errors', () => {
    const path = join(dir, 'plain.safetensors');
    saveStateDict({ x: tensor([1, 2, 3]) }, path, { note: 'hi' });
    const back = loadStateDictFile(path);
    expect(back.x.toArray()).toEqual([1, 2, 3]);
    expect(decodeStateDict(encodeStateDict({ y: tensor([1]) }, { note: 'hi' })).metadata).toEqual({ format: 'kiln', note: 'hi' });
    writeFileSync(join(dir, 'short.safetensors'), new Uint8Array([1, 2, 3]));
    expectError(() => loadStateDictFile(join(dir, 'short.safetensors')), ValueError, { op: 'loadStateDict', got: '3 bytes' });
    const bytes = encodeStateDict({ z: tensor([1, 2]) });
    expectError(() => decodeStateDict(bytes.subarray(0, bytes.length - 4)), ValueError, { op: 'loadStateDict', got: 'data_offsets [0, 16] of 12 bytes' });
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setBigUint64(0, 1000n, true);
    expectError(() => decodeStateDict(bad), ValueError, { op: 'loadStateDict', expected: 'a header length <= 8 in state dict (a safetensors file)', got: '1000' });
    expectError(() => encodeStateDict({ __metadata__: tensor([1]) }), ValueError, { op: 'saveStateDict', argument: 'state', expected: 'keys other than the reserved "__metadata__", "__proto__", "constructor", "prototype"', got: '__metadata__' });
  });

  it('fromTorchKeys renames snake_case key parts', () => {
    expect(Object.keys(fromTorchKeys({ 'layer1.0.bn1.running_mean': 1, 'fc.weight': 2, 'bn.num_batches_tracked': 3 })))
      .toEqual(['layer1.0.bn1.runningMean', 'fc.weight', 'bn.numBatchesTracked']);
  });

  it('Dropout has no state; a module with only buffers saves them', () => {
    expect(new Dropout().stateDict()).toEqual({});
    const bn = new BatchNorm2d(2);
    expect(Object.keys(bn.stateDict())).toEqual(['weight', 'bias', 'runningMean', 'runningVar', 'numBatchesTracked']);
  });
});
