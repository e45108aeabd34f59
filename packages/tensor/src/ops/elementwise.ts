/**
 * Elementwise ops with broadcasting, type promotion and JS scalars, and their in-place forms. The
 * formulas are native (native/include/kiln/math/elementwise_ops.h); this file declares each op,
 * works out the result's shape and dtype, and dispatches.
 */
import { type DType, checkScalar, defaultFloat, dtypeInfo, isFloating, resultType, scalarValue } from '../dtype.js';
import { DTypeError, ValueError } from '../errors.js';
import { type OpOptions, type OpSchema, autogradHook, commonDevice, declareOp, empty, launchKernel, needsRecording, recordOp } from '../dispatch.js';
import { describeValue } from '../check.js';
import { broadcastShapes, fmtShape, sameShape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { checkNoInternalOverlap, clone, copyInto, overlaps, to, toTypedArray } from './convert.js';
import { expand } from './views.js';
import { autocastActive, autocastCall } from '../autocast.js';

/** How an op's result dtype follows from its operands' promoted dtype. */
type ResultKind =
  | 'same' // the promoted dtype (add, mul, maximum, neg, abs)
  | 'float' // promoted, integers become the default float (div, pow, exp, sigmoid)
  | 'bool'; // bool result, computed in the promoted dtype (comparisons, logical ops)

function computeDType(op: string, promoted: DType, kind: ResultKind, allowBool: boolean): DType {
  if (kind === 'float') return isFloating(promoted) ? promoted : defaultFloat;
  if (kind === 'same' && promoted === 'bool' && !allowBool) {
    throw new DTypeError(op, null, 'numeric operands (bool tensors are not supported; cast first)', 'bool');
  }
  return promoted;
}

function castTo(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t : to(t, dtype);
}

interface Elementwise {
  schema: OpSchema;
  kind: ResultKind;
  allowBool: boolean;
}

function defineUnary(name: string, kind: ResultKind, options: OpOptions = {}): Elementwise {
  return { schema: declareOp(name, ['input'], options), kind, allowBool: kind === 'bool' };
}
function defineBinary(name: string, kind: ResultKind, options: OpOptions = {}): Elementwise {
  return { schema: declareOp(name, ['input', 'other'], options), kind, allowBool: kind === 'bool' };
}
const notDifferentiable: OpOptions = { differentiable: false };
// PyTorch's autocast lists: these compute in float32 from half inputs; binary arithmetic promotes
const f32: OpOptions = { autocast: 'float32' };
const promote: OpOptions = { autocast: 'promote' };

/** Runs a unary op, writing into `out` when given (in-place forms, which autocast leaves alone). */
function runUnary(op: Elementwise, x: Tensor, out?: Tensor): Tensor {
  if (out === undefined && autocastActive()) return autocastCall(op.schema, [x], (cx) => runUnaryAsIs(op, cx));
  return runUnaryAsIs(op, x, out);
}

function runUnaryAsIs(op: Elementwise, x: Tensor, out?: Tensor): Tensor {
  x.assertAlive(op.schema.name);
  const dtype = computeDType(op.schema.name, x.dtype, op.kind, op.allowBool);
  const resultDtype = op.kind === 'bool' ? 'bool' : dtype;
  if (out) {
    if (writesDirectly(out, resultDtype, out.shape, [x])) return launchedInto(out, () => launchUnary(op, x, dtype, out));
    return writeInplace(op, out, resultDtype, [x], (self) => runUnary(op, self));
  }
  const result = empty(x.shape, resultDtype, x.device);
  if (result.numel > 0) launchUnary(op, x, dtype, result);
  return recordOp(op.schema, [x], [result]);
}

/** The kernel of a unary op from x (cast to `dtype`) into `result`. */
function launchUnary(op: Elementwise, x: Tensor, dtype: DType, result: Tensor): void {
  const input = castTo(x, dtype);
  launchKernel(op.schema.name, [input], [result]);
  if (input !== x) input.dispose();
}

/** Runs a binary op on tensors and/or JS scalars (at least one tensor). */
function runBinary(op: Elementwise, a: TensorLike, b: TensorLike, out?: Tensor): Tensor {
  if (out === undefined && autocastActive()) return autocastCall(op.schema, [a, b], (ca, cb) => runBinaryAsIs(op, ca, cb));
  return runBinaryAsIs(op, a, b, out);
}

function runBinaryAsIs(op: Elementwise, a: TensorLike, b: TensorLike, out?: Tensor): Tensor {
  const name = op.schema.name;
  if (!(a instanceof Tensor)) checkScalar(out ? `${name}_` : name, 'input', a);
  if (!(b instanceof Tensor)) checkScalar(out ? `${name}_` : name, 'other', b);
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new ValueError(name, null, 'at least one tensor operand', `${typeof a} and ${typeof b}`);
  if (out) {
    out.assertAlive(`${name}_`);
    const dtype = computeDType(name, resultType(a, b), op.kind, op.allowBool);
    const resultDtype = op.kind === 'bool' ? 'bool' : dtype;
    // checked here too, so that the error names the in-place op (add_)
    const s = a === out ? b : a;
    if (!(s instanceof Tensor)) scalarValue(`${name}_`, a === out ? 'other' : 'input', s, dtype);
    if (a instanceof Tensor && b instanceof Tensor) commonDevice(name, ['input', 'other'], [a, b]);
    const shape = a instanceof Tensor && b instanceof Tensor ? broadcastShapes(name, a.shape, b.shape) : out.shape;
    if (writesDirectly(out, resultDtype, shape, [a, b])) return launchedInto(out, () => launchBinary(op, a, b, dtype, out));
    return writeInplace(op, out, resultDtype, [a, b], (self) => runBinary(op, a === out ? self : a, b === out ? self : b));
  }
  if (a instanceof Tensor && b instanceof Tensor) {
    const dev = commonDevice(name, ['input', 'other'], [a, b]);
    const shape = broadcastShapes(name, a.shape, b.shape);
    const dtype = computeDType(name, resultType(a, b), op.kind, op.allowBool);
    const result = empty(shape, op.kind === 'bool' ? 'bool' : dtype, dev);
    if (result.numel > 0) launchBinary(op, a, b, dtype, result);
    return recordOp(op.schema, [a, b], [result]);
  }
  // One tensor and one JS scalar: the scalar travels as a kernel attribute.
  const t = (a instanceof Tensor ? a : b) as Tensor;
  const s = (a instanceof Tensor ? b : a) as number | boolean;
  t.assertAlive(name);
  const dtype = computeDType(name, resultType(t, s), op.kind, op.allowBool);
  // the kernel converts the scalar to the computing dtype: it must fit (int32 + 3e9 is an error)
  scalarValue(name, a instanceof Tensor ? 'other' : 'input', s, dtype);
  const result = empty(t.shape, op.kind === 'bool' ? 'bool' : dtype, t.device);
  if (result.numel > 0) launchBinary(op, a, b, dtype, result);
  return recordOp(op.schema, [a, b], [result]);
}

/**
 * The kernel of a binary op on two tensors (cast to the computing `dtype` and broadcast to
 * `result`'s shape) or on a tensor and a JS scalar (an attribute of the kernel), into `result`.
 */
function launchBinary(op: Elementwise, a: TensorLike, b: TensorLike, dtype: DType, result: Tensor): void {
  const name = op.schema.name;
  if (a instanceof Tensor && b instanceof Tensor) {
    const ca = castTo(a, dtype), cb = castTo(b, dtype);
    const shape = result.shape;
    const ea = sameShape(ca.shape, shape) ? ca : expand(ca, shape);
    const eb = sameShape(cb.shape, shape) ? cb : expand(cb, shape);
    launchKernel(name, [ea, eb], [result]);
    // an expanded view holds a reference to its operand's storage: release it
    if (ea !== ca) ea.dispose();
    if (eb !== cb) eb.dispose();
    if (ca !== a) ca.dispose();
    if (cb !== b) cb.dispose();
    return;
  }
  const t = (a instanceof Tensor ? a : b) as Tensor;
  const s = (a instanceof Tensor ? b : a) as number | boolean;
  // the kernel converts the scalar to the computing dtype: it must fit (checked by the caller)
  const value = scalarValue(name, a instanceof Tensor ? 'other' : 'input', s, dtype);
  const ct = castTo(t, dtype);
  launchKernel(name, [ct], [result], [value, a instanceof Tensor ? 0 : 1]);
  if (ct !== t) ct.dispose();
}

/**
 * Whether an in-place op may run its kernel straight into `target` (one kernel) rather than into
 * a new tensor copied over it (writeInplace: two kernels and an allocation): nothing is recorded
 * (autograd would need target's old values), the result has target's dtype and shape, target is
 * contiguous and not empty, and every tensor operand is target itself or shares none of its
 * memory. An elementwise kernel reads each element before it writes that element and no other,
 * so reading and writing the same contiguous buffer is safe; a partly overlapping view is not.
 */
function writesDirectly(target: Tensor, resultDtype: DType, shape: readonly number[], operands: readonly TensorLike[]): boolean {
  if (resultDtype !== target.dtype || !target.isContiguous || target.numel === 0 || !sameShape(shape, target.shape)) return false;
  if (needsRecording(operands)) return false;
  return operands.every((o) => !(o instanceof Tensor) || o === target || !overlaps(o, target));
}

/** Runs `launch` (which writes into target, checked alive by the caller) as an in-place op's result: target's version moves on. */
function launchedInto(target: Tensor, launch: () => void): Tensor {
  launch();
  target.storage.version++;
  return target;
}

/**
 * In-place forms (`x.add_(y)`): the result must fit `target`'s dtype (PyTorch's can_cast rule: no
 * float into an integer tensor, no non-bool into bool) and its shape must be target's shape.
 * `compute(self)` is the out-of-place op with `self` standing for the target. When autograd records
 * it, self is a copy of the target: the op's derivative may need the target's values from before
 * they are overwritten (mul_'s gradient for `other`, log_'s, clamp_'s), as PyTorch saves them.
 */
function writeInplace(op: Elementwise, target: Tensor, resultDtype: DType, operands: readonly TensorLike[], compute: (self: Tensor) => Tensor): Tensor {
  const name = `${op.schema.name}_`;
  target.assertAlive(name);
  const rk = dtypeInfo[resultDtype].kind, tk = dtypeInfo[target.dtype].kind;
  const order = { bool: 0, int: 1, float: 2 } as const;
  if (order[rk] > order[tk]) {
    throw new DTypeError(name, 'self', `a dtype the result (${resultDtype}) can be cast to`, target.dtype);
  }
  checkNoInternalOverlap(name, target);
  if (target.requiresGrad && target.isLeaf && needsRecording([target])) {
    throw new ValueError(name, 'self', 'a tensor that is not a leaf requiring grad (use noGrad for parameter updates)', 'a leaf tensor that requires grad');
  }
  const self = needsRecording(operands) ? clone(target) : target;
  const result = compute(self);
  if (!sameShape(result.shape, target.shape)) {
    result.dispose();
    if (self !== target) self.dispose();
    throw new ValueError(name, 'self', `the broadcast shape of the operands ${fmtShape(result.shape)}`, fmtShape(target.shape));
  }
  copyInto(target, result);
  target.storage.version++;
  if (result.requiresGrad && autogradHook()) autogradHook()!.recordInplace(target, result);
  else {
    result.dispose();
    if (self !== target) self.dispose();
  }
  return target;
}

// ---- declarations --------------------------------------------------------------------------

const U = {
  exp: defineUnary('exp', 'float', f32), log: defineUnary('log', 'float', f32), log1p: defineUnary('log1p', 'float', f32),
  expm1: defineUnary('expm1', 'float', f32), sqrt: defineUnary('sqrt', 'float'), rsqrt: defineUnary('rsqrt', 'float', f32),
  sigmoid: defineUnary('sigmoid', 'float'), logsigmoid: defineUnary('logsigmoid', 'float'), softplus: defineUnary('softplus', 'float', f32),
  silu: defineUnary('silu', 'float'),
  tanh: defineUnary('tanh', 'float'), sin: defineUnary('sin', 'float'), cos: defineUnary('cos', 'float'),
  atan: defineUnary('atan', 'float'), log2: defineUnary('log2', 'float', f32),
  neg: defineUnary('neg', 'same'), abs: defineUnary('abs', 'same'), sign: defineUnary('sign', 'same'), floor: defineUnary('floor', 'same'), relu: defineUnary('relu', 'same'),
  ceil: defineUnary('ceil', 'same'), trunc: defineUnary('trunc', 'same'), round: defineUnary('round', 'same'),
  isnan: defineUnary('isnan', 'bool', notDifferentiable), isfinite: defineUnary('isfinite', 'bool', notDifferentiable),
  logicalNot: defineUnary('logical_not', 'bool', notDifferentiable),
};
const B = {
  add: defineBinary('add', 'same', promote), sub: defineBinary('sub', 'same', promote), mul: defineBinary('mul', 'same', promote),
  div: defineBinary('div', 'float', promote), pow: defineBinary('pow', 'float', f32),
  maximum: defineBinary('maximum', 'same', promote), minimum: defineBinary('minimum', 'same', promote),
  eq: defineBinary('eq', 'bool', notDifferentiable), ne: defineBinary('ne', 'bool', notDifferentiable), lt: defineBinary('lt', 'bool', notDifferentiable),
  le: defineBinary('le', 'bool', notDifferentiable), gt: defineBinary('gt', 'bool', notDifferentiable), ge: defineBinary('ge', 'bool', notDifferentiable),
  logicalAnd: defineBinary('logical_and', 'bool', notDifferentiable), logicalOr: defineBinary('logical_or', 'bool', notDifferentiable),
  reluBackward: { schema: declareOp('relu_backward', ['grad_output', 'output']), kind: 'same', allowBool: false } satisfies Elementwise,
};
/** The division family: binary ops whose integer divisor is checked for zeros first (runDivision). */
const D = {
  fmod: defineBinary('fmod', 'same', promote), remainder: defineBinary('remainder', 'same', promote),
  floorDivide: defineBinary('floor_divide', 'same', promote),
};

/** e^x. Integer inputs give the default float dtype (as every float op here). */
export const exp = (x: Tensor): Tensor => runUnary(U.exp, x);
/** Natural logarithm (NaN below 0, -inf at 0). */
export const log = (x: Tensor): Tensor => runUnary(U.log, x);
/** log(1 + x), accurate for small |x|. */
export const log1p = (x: Tensor): Tensor => runUnary(U.log1p, x);
/** e^x - 1, accurate for small |x|. */
export const expm1 = (x: Tensor): Tensor => runUnary(U.expm1, x);
/** Square root (NaN below 0). */
export const sqrt = (x: Tensor): Tensor => runUnary(U.sqrt, x);
/** 1 / sqrt(x). */
export const rsqrt = (x: Tensor): Tensor => runUnary(U.rsqrt, x);
/** 1 / (1 + e^-x), without overflow for either sign. */
export const sigmoid = (x: Tensor): Tensor => runUnary(U.sigmoid, x);
/** log(sigmoid(x)), stable for large |x|. */
export const logsigmoid = (x: Tensor): Tensor => runUnary(U.logsigmoid, x);
/** log(1 + e^x), stable for large |x|. */
export const softplus = (x: Tensor): Tensor => runUnary(U.softplus, x);
/** x * sigmoid(x) (SiLU, also called swish); integer and bool inputs give the default float dtype. */
export const silu = (x: Tensor): Tensor => runUnary(U.silu, x);
/** Hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => runUnary(U.tanh, x);
/** Sine (radians). */
export const sin = (x: Tensor): Tensor => runUnary(U.sin, x);
/** Cosine (radians). */
export const cos = (x: Tensor): Tensor => runUnary(U.cos, x);
/** Arctangent, in radians in [-π/2, π/2]. */
export const atan = (x: Tensor): Tensor => runUnary(U.atan, x);
/** Base-2 logarithm (exact at powers of two). */
export const log2 = (x: Tensor): Tensor => runUnary(U.log2, x);
/** The largest whole number <= x (integers are returned as they are; bool is a DTypeError). */
export const floor = (x: Tensor): Tensor => runUnary(U.floor, x);
/** The smallest whole number >= x (integers are returned as they are; bool is a DTypeError). */
export const ceil = (x: Tensor): Tensor => runUnary(U.ceil, x);
/** x without its fraction, rounded toward zero (integers are returned as they are). */
export const trunc = (x: Tensor): Tensor => runUnary(U.trunc, x);
/**
 * The nearest whole number, halves to the even one (torch.round's rule: round(0.5) = 0,
 * round(1.5) = 2, round(-2.5) = -2; JavaScript's Math.round sends halves up). Integers are
 * returned as they are.
 */
export const round = (x: Tensor): Tensor => runUnary(U.round, x);
/** -x (numeric dtypes; bool is a DTypeError). */
export const neg = (x: Tensor): Tensor => runUnary(U.neg, x);
/** |x| (numeric dtypes). */
export const abs = (x: Tensor): Tensor => runUnary(U.abs, x);
/** -1, 0 or 1 by the sign of x (numeric dtypes). */
export const sign = (x: Tensor): Tensor => runUnary(U.sign, x);
/** max(x, 0); NaN stays NaN (as PyTorch). */
export const relu = (x: Tensor): Tensor => runUnary(U.relu, x);
/**
 * relu's gradient in one kernel (PyTorch's threshold_backward at 0): `gradOutput` where `output`
 * (relu's result) is positive, 0 elsewhere, a NaN output included. What relu's derivative computes;
 * `where(gt(output, 0), gradOutput, 0)` gives the same in two kernels and a bool tensor.
 */
export const reluBackward = (gradOutput: TensorLike, output: TensorLike): Tensor => runBinary(B.reluBackward, gradOutput, output);
/** True where x is NaN (a bool tensor). */
export const isnan = (x: Tensor): Tensor => runUnary(U.isnan, x);
/** True where x is neither NaN nor infinite (a bool tensor). */
export const isfinite = (x: Tensor): Tensor => runUnary(U.isfinite, x);
/** True where x is zero (a bool tensor). */
export const logicalNot = (x: Tensor): Tensor => runUnary(U.logicalNot, x);

/**
 * a + b, with broadcasting and type promotion; either side may be a JS number.
 *
 * @example
 * ```ts
 * const x = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
 * add(x, tensor([10, 20], { dtype: 'float32' }));   // broadcasts: [[11, 22], [13, 24]]
 * add(x, 0.5);                                      // a JS number: [[1.5, 2.5], [3.5, 4.5]]
 * ```
 */
export const add = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.add, a, b);
/** a - b, with broadcasting and type promotion; either side may be a JS number. */
export const sub = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.sub, a, b);
/** a * b, with broadcasting and type promotion; either side may be a JS number. */
export const mul = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.mul, a, b);
/** True division: integer operands give a float result. */
export const div = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.div, a, b);

/**
 * Integer division by zero has no answer (PyTorch's CPU raises ZeroDivisionError, its CUDA kernels
 * return what the hardware gives): refused before the kernel runs. A tensor divisor is read back
 * to look for a zero (a synchronisation on CUDA, paid by integer operands only; float division by
 * zero is IEEE's ±inf or NaN).
 */
function checkIntegerDivisor(op: Elementwise, a: TensorLike, b: TensorLike): void {
  const usable = (v: TensorLike) => (v instanceof Tensor ? !v.isDisposed : typeof v === 'number' || typeof v === 'boolean');
  if (!usable(a) || !usable(b) || !(a instanceof Tensor || b instanceof Tensor)) return;   // runBinary names the problem
  if (dtypeInfo[resultType(a, b)].kind === 'float') return;
  const zero = b instanceof Tensor ? Array.prototype.some.call(toTypedArray(b), (v: number | bigint) => v == 0) : b === 0 || b === false;
  if (zero) throw new ValueError(op.schema.name, 'other', 'a divisor without zeros (integer division by zero has no result)', b instanceof Tensor ? 'a tensor holding 0' : '0');
}

function runDivision(op: Elementwise, a: TensorLike, b: TensorLike, out?: Tensor): Tensor {
  checkIntegerDivisor(op, a, b);
  return runBinary(op, a, b, out);
}

/** a - trunc(a / b) · b, the sign of a (C's fmod and %; torch.fmod); integer division by zero is a ValueError. */
export const fmod = (a: TensorLike, b: TensorLike): Tensor => runDivision(D.fmod, a, b);
/** a - floor(a / b) · b, the sign of b (Python's %; torch.remainder); integer division by zero is a ValueError. */
export const remainder = (a: TensorLike, b: TensorLike): Tensor => runDivision(D.remainder, a, b);
/**
 * floor(a / b) (Python's //; torch.floor_divide, which rounds down since PyTorch 1.13), computed
 * from the exact remainder so that it is right near whole numbers (floorDivide(1, 0.1) is 9, the
 * true quotient being 9.99…). Integer division by zero is a ValueError.
 */
export const floorDivide = (a: TensorLike, b: TensorLike): Tensor => runDivision(D.floorDivide, a, b);
/** a ^ b, with broadcasting; integer operands give the default float dtype. */
export const pow = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.pow, a, b);
/** The larger of a and b elementwise; NaN wins (as PyTorch). */
export const maximum = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.maximum, a, b);
/** The smaller of a and b elementwise; NaN wins (as PyTorch). */
export const minimum = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.minimum, a, b);
/** a == b (a bool tensor). */
export const eq = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.eq, a, b);
/** a != b (a bool tensor). */
export const ne = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.ne, a, b);
/** a < b (a bool tensor). */
export const lt = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.lt, a, b);
/** a <= b (a bool tensor). */
export const le = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.le, a, b);
/** a > b (a bool tensor). */
export const gt = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.gt, a, b);
/** a >= b (a bool tensor). */
export const ge = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.ge, a, b);
/** a && b, nonzero meaning true (a bool tensor). */
export const logicalAnd = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.logicalAnd, a, b);
/** a || b, nonzero meaning true (a bool tensor). */
export const logicalOr = (a: TensorLike, b: TensorLike): Tensor => runBinary(B.logicalOr, a, b);

const clampOp = declareOp('clamp', ['input']);

/** Limits values to [min, max]; either bound may be omitted (undefined). NaN stays NaN. */
export function clamp(x: Tensor, min?: number, max?: number, out?: Tensor): Tensor {
  x.assertAlive('clamp');
  if (min === undefined && max === undefined) throw new ValueError('clamp', null, 'at least one of min and max', 'neither');
  // the kernel reads a NaN bound as no bound: refused, where PyTorch would give NaN everywhere
  for (const [name, v] of [['min', min], ['max', max]] as const) {
    if (Number.isNaN(v)) throw new ValueError('clamp', name, 'a number, or undefined for no bound', 'NaN');
  }
  if (min !== undefined && max !== undefined && min > max) throw new ValueError('clamp', 'min', `a value <= max (${max})`, String(min));
  if (x.dtype === 'bool') throw new DTypeError('clamp', 'input', 'a numeric tensor', 'bool');
  // the bounds are JS numbers: a fractional bound makes an integer tensor float32
  const dtype = resultType(x, ...[min, max].filter((v): v is number => v !== undefined));
  // NaN stands for an absent bound in the kernel's attributes
  const lo = min === undefined ? NaN : scalarValue('clamp', 'min', min, dtype);
  const hi = max === undefined ? NaN : scalarValue('clamp', 'max', max, dtype);
  const compute = (self: Tensor): Tensor => {
    const input = castTo(self, dtype);
    const result = empty(self.shape, dtype, self.device);
    if (result.numel > 0) launchKernel('clamp', [input], [result], [lo, hi]);
    if (input !== self) input.dispose();
    return recordOp(clampOp, [self], [result], { min, max });
  };
  if (out) return writeInplace({ schema: clampOp, kind: 'same', allowBool: false }, out, dtype, [x], compute);
  return compute(x);
}

const whereOp = declareOp('where', ['condition', 'input', 'other'], promote);

/** condition ? input : other, elementwise with broadcasting (condition must be bool). */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  return whereAs('where', ['condition', 'input', 'other'], condition, a, b);
}

/**
 * where() whose errors name `op` and its arguments `names`; the result dtype is `dtype` when given
 * (maskedFill keeps its input's), else the promoted dtype of a and b (condition does not count).
 */
function whereAs(op: string, names: readonly [string, string, string], condition: Tensor, a: TensorLike, b: TensorLike, dtype?: DType): Tensor {
  if (!(condition instanceof Tensor)) throw new DTypeError(op, names[0], 'a bool tensor', describeValue(condition));
  condition.assertAlive(op);
  if (!(a instanceof Tensor)) checkScalar(op, names[1], a);
  if (!(b instanceof Tensor)) checkScalar(op, names[2], b);
  if (condition.dtype !== 'bool') throw new DTypeError(op, names[0], 'a bool tensor', condition.dtype);
  const dev = condition.device;
  const ta = a instanceof Tensor ? a : null, tb = b instanceof Tensor ? b : null;
  commonDevice(op, names, [condition, ta, tb]);
  const dt = dtype ?? resultType(a, b);
  const shape = broadcastShapes(op, condition.shape, ta?.shape ?? [], tb?.shape ?? []);
  // JS values are checked against the dtype before anything is allocated
  const va = a instanceof Tensor ? a : scalarValue(op, names[1], a, dt), vb = b instanceof Tensor ? b : scalarValue(op, names[2], b, dt);
  const asTensor = (v: Tensor | number): Tensor => (v instanceof Tensor ? castTo(v, dt) : scalarOn(v, dt, dev));
  const ca = asTensor(va), cb = asTensor(vb);
  const result = empty(shape, dt, dev);
  if (result.numel > 0) {
    const operands = [condition, ca, cb], views = operands.map((t) => expand(t, shape));
    launchKernel('where', views, [result]);
    // a view holds a reference to its operand's storage (expand returns the operand itself when the shape is its own)
    views.forEach((v, i) => { if (v !== operands[i]) v.dispose(); });
  }
  if (ca !== a) ca.dispose();
  if (cb !== b) cb.dispose();
  return recordOp(whereOp, [condition, a, b], [result]);
}

/** A 0-d tensor of `dtype` holding `value` (already checked with scalarValue). */
function scalarOn(value: number, dtype: DType, dev: Tensor['device']): Tensor {
  const t = empty([], dtype, dev);
  launchKernel('fill', [], [t], [value]);
  return t;
}

/**
 * Fills positions where mask is true with value (out of place), broadcasting x and mask. The result
 * keeps x's dtype (torch.masked_fill); a value that dtype cannot hold (1.5 or NaN for an integer
 * tensor, a value out of its range, 2 for a bool tensor) is a ValueError naming 'value'.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number | boolean): Tensor {
  x.assertAlive('maskedFill');
  return whereAs('maskedFill', ['mask', 'value', 'input'], mask, value, x, x.dtype);
}

declare module '../tensor.js' {
  interface Tensor {
    /** e^x. See {@link exp}. */
    exp(): Tensor;
    /** Natural logarithm (NaN below 0, -inf at 0). See {@link log}. */
    log(): Tensor;
    /** log(1 + x), accurate for small |x|. See {@link log1p}. */
    log1p(): Tensor;
    /** e^x - 1, accurate for small |x|. See {@link expm1}. */
    expm1(): Tensor;
    /** Square root (NaN below 0). See {@link sqrt}. */
    sqrt(): Tensor;
    /** 1 / sqrt(x). See {@link rsqrt}. */
    rsqrt(): Tensor;
    /** 1 / (1 + e^-x), without overflow for either sign. See {@link sigmoid}. */
    sigmoid(): Tensor;
    /** log(sigmoid(x)), stable for large |x|. See {@link logsigmoid}. */
    logsigmoid(): Tensor;
    /** log(1 + e^x), stable for large |x|. See {@link softplus}. */
    softplus(): Tensor;
    /** x * sigmoid(x) (SiLU). See {@link silu}. */
    silu(): Tensor;
    /** Hyperbolic tangent. See {@link tanh}. */
    tanh(): Tensor;
    /** Sine (radians). See {@link sin}. */
    sin(): Tensor;
    /** Cosine (radians). See {@link cos}. */
    cos(): Tensor;
    /** Arctangent (radians). See {@link atan}. */
    atan(): Tensor;
    /** Base-2 logarithm. See {@link log2}. */
    log2(): Tensor;
    /** Rounds down to a whole number. See {@link floor}. */
    floor(): Tensor;
    /** Rounds up to a whole number. See {@link ceil}. */
    ceil(): Tensor;
    /** Rounds toward zero. See {@link trunc}. */
    trunc(): Tensor;
    /** Rounds to the nearest whole number, halves to even. See {@link round}. */
    round(): Tensor;
    /** -x (numeric dtypes; bool is a DTypeError). See {@link neg}. */
    neg(): Tensor;
    /** |x| (numeric dtypes). See {@link abs}. */
    abs(): Tensor;
    /** -1, 0 or 1 by the sign of x (numeric dtypes). See {@link sign}. */
    sign(): Tensor;
    /** max(x, 0); NaN stays NaN (as PyTorch). See {@link relu}. */
    relu(): Tensor;
    /** True where x is NaN (a bool tensor). See {@link isnan}. */
    isnan(): Tensor;
    /** True where x is neither NaN nor infinite (a bool tensor). See {@link isfinite}. */
    isfinite(): Tensor;
    /** True where x is zero (a bool tensor). See {@link logicalNot}. */
    logicalNot(): Tensor;
    /** this + other, with broadcasting and type promotion; `other` may be a JS number. See {@link add}. */
    add(other: TensorLike): Tensor;
    /** this - other, with broadcasting and type promotion; `other` may be a JS number. See {@link sub}. */
    sub(other: TensorLike): Tensor;
    /** this * other, with broadcasting and type promotion; `other` may be a JS number. See {@link mul}. */
    mul(other: TensorLike): Tensor;
    /** this / other (true division: integer operands give a float result). See {@link div}. */
    div(other: TensorLike): Tensor;
    /** this - trunc(this / other) · other. See {@link fmod}. */
    fmod(other: TensorLike): Tensor;
    /** this - floor(this / other) · other (Python's %). See {@link remainder}. */
    remainder(other: TensorLike): Tensor;
    /** floor(this / other) (Python's //). See {@link floorDivide}. */
    floorDivide(other: TensorLike): Tensor;
    /** this ^ exponent, with broadcasting; integer operands give the default float dtype. See {@link pow}. */
    pow(exponent: TensorLike): Tensor;
    /** The larger of this and other elementwise; NaN wins (as PyTorch). See {@link maximum}. */
    maximum(other: TensorLike): Tensor;
    /** The smaller of this and other elementwise; NaN wins (as PyTorch). See {@link minimum}. */
    minimum(other: TensorLike): Tensor;
    /** this == other (a bool tensor). See {@link eq}. */
    eq(other: TensorLike): Tensor;
    /** this != other (a bool tensor). See {@link ne}. */
    ne(other: TensorLike): Tensor;
    /** this < other (a bool tensor). See {@link lt}. */
    lt(other: TensorLike): Tensor;
    /** this <= other (a bool tensor). See {@link le}. */
    le(other: TensorLike): Tensor;
    /** this > other (a bool tensor). See {@link gt}. */
    gt(other: TensorLike): Tensor;
    /** this >= other (a bool tensor). See {@link ge}. */
    ge(other: TensorLike): Tensor;
    /** this && other, nonzero meaning true (a bool tensor). See {@link logicalAnd}. */
    logicalAnd(other: TensorLike): Tensor;
    /** this || other, nonzero meaning true (a bool tensor). See {@link logicalOr}. */
    logicalOr(other: TensorLike): Tensor;
    /** Limits values to [min, max]; either bound may be omitted. See {@link clamp}. */
    clamp(min?: number, max?: number): Tensor;
    /** Fills positions where `mask` is true with `value` (out of place), keeping this dtype. See {@link maskedFill}. */
    maskedFill(mask: Tensor, value: number | boolean): Tensor;
    /** condition ? this : other, elementwise with broadcasting. See {@link where}. */
    where(condition: Tensor, other: TensorLike): Tensor;
    /** In-place exp. */
    exp_(): Tensor;
    /** In-place log. */
    log_(): Tensor;
    /** In-place sqrt. */
    sqrt_(): Tensor;
    /** In-place sigmoid. */
    sigmoid_(): Tensor;
    /** In-place tanh. */
    tanh_(): Tensor;
    /** In-place neg. */
    neg_(): Tensor;
    /** In-place abs. */
    abs_(): Tensor;
    /** In-place relu. */
    relu_(): Tensor;
    /** In-place floor. */
    floor_(): Tensor;
    /** In-place ceil. */
    ceil_(): Tensor;
    /** In-place trunc. */
    trunc_(): Tensor;
    /** In-place round (halves to even). */
    round_(): Tensor;
    /** In-place add: the result must fit this tensor's dtype and shape. */
    add_(other: TensorLike): Tensor;
    /** In-place sub: the result must fit this tensor's dtype and shape. */
    sub_(other: TensorLike): Tensor;
    /** In-place mul: the result must fit this tensor's dtype and shape. */
    mul_(other: TensorLike): Tensor;
    /** In-place div (a float tensor only). */
    div_(other: TensorLike): Tensor;
    /** In-place fmod. */
    fmod_(other: TensorLike): Tensor;
    /** In-place remainder. */
    remainder_(other: TensorLike): Tensor;
    /** In-place floorDivide. */
    floorDivide_(other: TensorLike): Tensor;
    /** In-place pow (a float tensor only). */
    pow_(exponent: TensorLike): Tensor;
    /** In-place maximum: the result must fit this tensor's dtype and shape. */
    maximum_(other: TensorLike): Tensor;
    /** In-place minimum: the result must fit this tensor's dtype and shape. */
    minimum_(other: TensorLike): Tensor;
    /** In-place clamp. */
    clamp_(min?: number, max?: number): Tensor;
    /** In-place maskedFill (an expanded, stride-0 tensor is refused, as every in-place write). */
    maskedFill_(mask: Tensor, value: number | boolean): Tensor;
    /** Fills with 0 in place. */
    zero_(): Tensor;
    /** Fills with `value` in place (a value the dtype cannot hold is a ValueError). */
    fill_(value: number | boolean): Tensor;
  }
}

const proto = Tensor.prototype;
for (const [name, op] of Object.entries(U)) {
  (proto as unknown as Record<string, unknown>)[name] = function (this: Tensor) { return runUnary(op, this); };
  (proto as unknown as Record<string, unknown>)[`${name}_`] = function (this: Tensor) { return runUnary(op, this, this); };
}
for (const [name, op] of Object.entries(B)) {
  (proto as unknown as Record<string, unknown>)[name] = function (this: Tensor, o: TensorLike) { return runBinary(op, this, o); };
  (proto as unknown as Record<string, unknown>)[`${name}_`] = function (this: Tensor, o: TensorLike) { return runBinary(op, this, o, this); };
}
// the division family checks an integer divisor for zeros first
for (const [name, op] of Object.entries(D)) {
  (proto as unknown as Record<string, unknown>)[name] = function (this: Tensor, o: TensorLike) { return runDivision(op, this, o); };
  (proto as unknown as Record<string, unknown>)[`${name}_`] = function (this: Tensor, o: TensorLike) { return runDivision(op, this, o, this); };
}
proto.clamp = function (min, max) { return clamp(this, min, max); };
proto.clamp_ = function (min, max) { return clamp(this, min, max, this); };
proto.maskedFill = function (mask, value) { return maskedFill(this, mask, value); };
proto.maskedFill_ = function (mask, value) {
  this.assertAlive('maskedFill_');
  checkNoInternalOverlap('maskedFill_', this); // before computing: the error names this op
  scalarValue('maskedFill_', 'value', value, this.dtype);
  const filled = maskedFill(this, mask, value);
  try {
    return this.copy_(filled);
  } finally {
    if (!filled.requiresGrad) filled.dispose();
  }
};
proto.where = function (condition, other) { return where(condition, this, other); };
proto.zero_ = function () { return this.fill_(0); };
proto.fill_ = function (value) {
  this.assertAlive('fill_');
  if (needsRecording([this]) && this.isLeaf) {
    throw new ValueError('fill_', 'self', 'a tensor that is not a leaf requiring grad (use noGrad)', 'a leaf tensor that requires grad');
  }
  // fill_ may write through a stride-0 view (every write stores the same value), as PyTorch's
  const v = scalarValue('fill_', 'value', value, this.dtype);
  if (this.numel > 0) launchKernel('fill', [], [this], [v]);
  this.storage.version++;
  return this;
};
