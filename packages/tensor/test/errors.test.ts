// Typed errors carry their facts as fields (op, argument, expected, got), from TypeScript and from
// the native kernels of every device; expectError checks them.
import { describe, expect, it } from 'vitest';
import {
  AutogradError, DTypeError, DeviceError, KilnError, ShapeError, ValueError, fromNativeError, gather, launchKernel, tensor, zeros,
} from '@kiln/tensor';
import { expectError, forEachDevice } from '@kiln/tensor/testing';

describe('KilnError', () => {
  it('keeps the four-argument form: every fact a field, and the standard message', () => {
    const e = new ShapeError('mul', 'other', 'a shape broadcastable to [4, 3]', '[3, 2]');
    expect(e).toBeInstanceOf(KilnError);
    expect(e.name).toBe('ShapeError');
    expect(e.message).toBe("mul: argument 'other' expected a shape broadcastable to [4, 3], got [3, 2]");
    expect({ op: e.op, argument: e.argument, expected: e.expected, got: e.got })
      .toEqual({ op: 'mul', argument: 'other', expected: 'a shape broadcastable to [4, 3]', got: '[3, 2]' });
  });

  it('leaves out the argument given as null, from the message and the fields', () => {
    const e = new ValueError('item', null, 'a tensor with one element', '2 elements');
    expect(e.message).toBe('item: expected a tensor with one element, got 2 elements');
    expect('argument' in e).toBe(false);
  });

  it('takes the facts as an object, with a detail or a finished message for other wordings', () => {
    const d = new AutogradError({ op: 'retainGrad', detail: 'the tensor does not require grad' });
    expect(d.message).toBe('retainGrad: the tensor does not require grad');
    expect([d.op, 'expected' in d, 'got' in d]).toEqual(['retainGrad', false, false]);
    const hinted = new ValueError({ op: 'clamp', argument: 'min', expected: 'a number <= max', got: '3', detail: 'swap min and max' });
    expect(hinted.message).toBe("clamp: argument 'min' expected a number <= max, got 3. swap min and max");
    const worded = new AutogradError({ op: 'ExpBackward', argument: 'saved tensor 0', message: 'as PyTorch says it' });
    expect([worded.message, worded.op, worded.argument]).toEqual(['as PyTorch says it', 'ExpBackward', 'saved tensor 0']);
  });

  it('keeps the finished-message form, with no facts', () => {
    const e = new KilnError('something broke');
    expect(e.message).toBe('something broke');
    expect(Object.keys(e)).not.toContain('op');
    expect(e.op).toBeUndefined();
  });
});

describe('fromNativeError', () => {
  it("gives an addon's error its class and its facts, and leaves other errors alone", () => {
    const native = Object.assign(new Error("gather: argument 'index' expected 2 dimensions, got 1"), {
      kind: 'shape', op: 'gather', argument: 'index', expected: '2 dimensions', got: '1',
    });
    const e = fromNativeError(native) as ShapeError;
    expect(e).toBeInstanceOf(ShapeError);
    expect([e.message, e.op, e.argument, e.expected, e.got]).toEqual([native.message, 'gather', 'index', '2 dimensions', '1']);
    // a fact the kernel did not know arrives empty or absent, and is no field
    const bare = fromNativeError(Object.assign(new Error('matmul: shapes do not multiply'), { kind: 'shape', op: 'matmul', argument: '' })) as ShapeError;
    expect([bare.op, 'argument' in bare]).toEqual(['matmul', false]);
    const plain = new TypeError('not ours');
    expect(fromNativeError(plain)).toBe(plain);
  });
});

forEachDevice('native errors carry their facts', (dev) => {
  it('a bad index value found by the kernel names the op, the argument, the range and the value', () => {
    const x = tensor([[1, 2], [3, 4]], { device: dev });
    // on the CPU gather throws; on CUDA the kernel reports it and reading the result throws
    expectError(() => gather(x, 1, tensor([[0, 5], [1, 0]], { device: dev })).toArray(), ValueError,
      { op: 'gather', argument: 'index', expected: 'a value in [0, 1]', got: '5' });
  });

  it("a kernel's dtype check names the op, what it accepts and what came", () => {
    // called directly (the TypeScript op would have refused first): the kernel's own check answers
    const out = zeros([2], { dtype: 'float32', device: dev });
    expectError(() => launchKernel('sigmoid', [tensor([1, 2], { dtype: 'int32', device: dev })], [out]), DTypeError,
      { op: 'sigmoid', argument: null, expected: 'a floating dtype', got: 'int32' });
  });
});

describe('messages that say what to do', () => {
  it('a kernel the loaded addon lacks: how to rebuild, or where KILN_NATIVE_DIR points', () => {
    const out = zeros([1]);
    const e = expectError(() => launchKernel('no_such_kernel', [], [out]), DeviceError, { op: 'no_such_kernel' });
    expect(e.message).toContain('no kernel for this op on cpu');
    expect(e.message).toContain('npm run build -w @kiln/native');
    expect(e.message).toMatch(/KILN_NATIVE_DIR/);
  });
});

describe('expectError', () => {
  const raise = () => { throw new ShapeError('mul', 'other', 'a shape broadcastable to [4, 3]', '[3, 2]'); };

  it('passes on the class and facts given (strings equal, RegExps match, null absent) and returns the error', () => {
    const e = expectError(raise, ShapeError, { op: 'mul', argument: 'other', expected: /broadcastable/, got: '[3, 2]', message: /^mul: / });
    expect(e.got).toBe('[3, 2]');
    expectError(() => { throw new ValueError('item', null, 'one element', '2'); }, ValueError, { argument: null });
    expectError(raise, ShapeError, "argument 'other'", 'got [3, 2]');   // the wording form
  });

  it('fails when nothing is thrown, on another class, or on any fact that differs', () => {
    expect(() => expectError(() => 1, ShapeError, { op: 'mul' })).toThrow(/expected a ShapeError to be thrown/);
    expect(() => expectError(raise, DTypeError, { op: 'mul' })).toThrow();
    expect(() => expectError(raise, ShapeError, { op: 'add' })).toThrow(/op of/);
    expect(() => expectError(raise, ShapeError, { argument: 'input' })).toThrow();
    expect(() => expectError(raise, ShapeError, { got: /\[4/ })).toThrow();
    expect(() => expectError(raise, ShapeError, { argument: null })).toThrow();
    expect(() => expectError(raise, ShapeError, 'no such words')).toThrow();
  });
});
