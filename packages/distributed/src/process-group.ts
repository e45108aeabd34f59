/**
 * `ProcessGroup`: the ranks of a job and the collectives among them. It checks every argument
 * (typed errors naming the collective and the argument, before anything is sent), runs a collective
 * in place when the tensor is in memory its backend can use directly, and otherwise copies through
 * such memory (any layout, any view, copied back once the result may be used).
 */
import {
  describeValue, type DType, type Device, DTypeError, DeviceError, ShapeError, Tensor, ValueError, fmtShape, isFloating, tidy,
} from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import type { BackendName, GroupBackend, LaunchOptions } from './backend.js';
import type { CollectiveKind, ReduceOp } from './cpu/jobs.js';
import type { Work } from './work.js';

export type { ReduceOp } from './cpu/jobs.js';

const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'max', 'min'];

/** Runs copies between a user's tensors and a backend's buffers: no graph, the views it makes disposed. */
function copying(f: () => void): void {
  tidy(() => { noGrad(f); });
}

/**
 * A group of processes (ranks) that run collectives together, made by `initProcessGroup`. Its
 * methods start a collective and return its {@link Work}; the module's functions (`allReduce`, ...)
 * run them on the default group and wait, as PyTorch's.
 *
 * @example
 * ```ts
 * const group = initProcessGroup({ backend: 'cpu' });
 * const t = tensor([group.rank + 1], { dtype: 'float32' });
 * group.allReduce(t, { op: 'sum' }).wait();     // every rank: 1 + 2 + ... + worldSize
 * ```
 */
export class ProcessGroup {
  /** This process's rank, 0 <= rank < size. */
  readonly rank: number;
  /** The number of ranks. */
  readonly size: number;
  private destroyed = false;
  private barrierBuffer: Tensor | null = null;

  /** @internal */
  constructor(
    /** @internal */ readonly impl: GroupBackend,
    rank: number,
    size: number,
    private readonly onDestroy: () => void = () => {},
  ) {
    this.rank = rank;
    this.size = size;
  }

  /** The backend: 'cpu' or 'nccl'. */
  get backend(): BackendName {
    return this.impl.name;
  }

  /** The device this rank's tensors must be on: 'cpu' for the CPU backend, this rank's GPU for NCCL. */
  get device(): Device {
    return this.impl.device;
  }

  /**
   * Reduces `tensor` across the ranks, in place: every rank ends with the sum (or average, maximum,
   * minimum) of every rank's values.
   */
  allReduce(tensor: Tensor, options: { op?: ReduceOp; timeout?: number } = {}): Work {
    const op = 'allReduce';
    this.checkTensor(op, 'tensor', tensor);
    const reduce = this.checkReduce(op, tensor.dtype, options.op ?? 'sum');
    return this.inPlace('allReduce', tensor, { reduce, root: 0, timeoutMs: this.checkTimeout(op, options.timeout) });
  }

  /** Copies rank `src`'s `tensor` into every rank's `tensor`, in place. */
  broadcast(tensor: Tensor, src: number, options: { timeout?: number } = {}): Work {
    this.checkTensor('broadcast', 'tensor', tensor);
    this.checkRank('broadcast', 'src', src);
    return this.inPlace('broadcast', tensor, { reduce: 'sum', root: src, timeoutMs: this.checkTimeout('broadcast', options.timeout) });
  }

  /**
   * Gathers every rank's `input` into `output` on every rank: a list of world-size tensors shaped
   * as `input` (output[i] gets rank i's), or one tensor of world size times input's elements (rank
   * i's values at block i, as all_gather_into_tensor).
   */
  allGather(output: Tensor | readonly Tensor[], input: Tensor, options: { timeout?: number } = {}): Work {
    const op = 'allGather';
    this.checkTensor(op, 'input', input);
    const outs = this.checkBlocks(op, 'output', output, input);
    const launch: LaunchOptions = { reduce: 'sum', root: 0, timeoutMs: this.checkTimeout(op, options.timeout) };
    const n = input.numel, size = this.size, rank = this.rank;
    if (outs === null && this.impl.accepts(output as Tensor)) {
      const flat = (output as Tensor).reshape([size * n]);   // a view: the output is contiguous
      copying(() => flat.narrow(0, rank * n, n).copy_(input.reshape([n])));   // a no-op when input is that block
      const work = this.impl.launch('allGather', flat, launch);
      work.onReady(() => flat.dispose());
      return work;
    }
    const buf = this.impl.borrow(size * n, input.dtype);
    copying(() => buf.narrow(0, rank * n, n).copy_(input.reshape([n])));
    const work = this.impl.launch('allGather', buf, launch);
    work.onReady(() => copying(() => {
      if (outs !== null) outs.forEach((o, i) => o.copy_(buf.narrow(0, i * n, n).reshape(o.shape)));
      else (output as Tensor).copy_(buf.reshape((output as Tensor).shape));
    }));
    this.releaseWhenDone(work, buf);
    return work;
  }

  /**
   * Reduces `input` across the ranks and scatters the result: rank i's `output` gets block i of the
   * reduction. `input` is a list of world-size tensors shaped as `output`, or one tensor of world
   * size times output's elements.
   */
  reduceScatter(output: Tensor, input: Tensor | readonly Tensor[], options: { op?: ReduceOp; timeout?: number } = {}): Work {
    const op = 'reduceScatter';
    this.checkTensor(op, 'output', output);
    const ins = this.checkBlocks(op, 'input', input, output);
    const reduce = this.checkReduce(op, output.dtype, options.op ?? 'sum');
    const timeoutMs = this.checkTimeout(op, options.timeout);
    const n = output.numel, size = this.size, rank = this.rank;
    const buf = this.impl.borrow(size * n, output.dtype);
    copying(() => {
      if (ins !== null) ins.forEach((t, i) => buf.narrow(0, i * n, n).copy_(t.reshape([n])));
      else buf.copy_((input as Tensor).reshape([size * n]));
    });
    const work = this.impl.launch('reduceScatter', buf, { reduce, root: 0, timeoutMs });
    work.onReady(() => copying(() => output.copy_(buf.narrow(0, rank * n, n).reshape(output.shape))));
    this.releaseWhenDone(work, buf);
    return work;
  }

  /** Returns (its work completes) once every rank has called barrier. */
  barrier(options: { timeout?: number } = {}): Work {
    this.checkAlive('barrier');
    const timeoutMs = this.checkTimeout('barrier', options.timeout);
    this.barrierBuffer ??= this.impl.commBuffer(1, 'int32');
    return this.impl.launch('barrier', this.barrierBuffer, { reduce: 'sum', root: 0, timeoutMs });
  }

  /** @internal A tensor in memory the backend uses in place (DistributedDataParallel's buckets). */
  commBuffer(numel: number, dtype: DType): Tensor {
    return this.impl.commBuffer(numel, dtype);
  }

  /** Ends the group: closes its connections (NCCL: destroys the communicator). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.barrierBuffer?.dispose();
    this.impl.destroy();
    this.onDestroy();
  }

  // ---- helpers ----

  private inPlace(kind: CollectiveKind, tensor: Tensor, launch: LaunchOptions): Work {
    if (this.impl.accepts(tensor)) return this.impl.launch(kind, tensor, launch);
    const buf = this.impl.borrow(tensor.numel, tensor.dtype);
    copying(() => buf.reshape(tensor.shape).copy_(tensor));
    const work = this.impl.launch(kind, buf, launch);
    work.onReady(() => copying(() => tensor.copy_(buf.reshape(tensor.shape))));
    this.releaseWhenDone(work, buf);
    return work;
  }

  private releaseWhenDone(work: Work, buf: Tensor): void {
    // on success after the copy-back; a failed collective's buffer may still be read by the thread
    work.onReady(() => this.impl.release(buf));
  }

  private checkAlive(op: string): void {
    if (this.destroyed) throw new ValueError(op, 'group', 'a process group that is not destroyed', 'a destroyed one');
  }

  private checkTensor(op: string, arg: string, t: unknown): asserts t is Tensor {
    this.checkAlive(op);
    if (!(t instanceof Tensor)) throw new DTypeError(op, arg, 'a Tensor', t === null ? 'null' : typeof t);
    t.assertAlive(op);
    if (t.device !== this.impl.device) {
      const hint = this.impl.name === 'cpu' ? " (the 'cpu' backend runs on CPU tensors; 'nccl' on CUDA tensors)" : ` (this rank's device in the 'nccl' group)`;
      throw new DeviceError(op, arg, `a tensor on ${this.impl.device}${hint}`, `a tensor on ${t.device}`);
    }
  }

  private checkReduce(op: string, dtype: DType, reduce: unknown): ReduceOp {
    if (!REDUCE_OPS.includes(reduce as ReduceOp)) throw new ValueError(op, 'op', `one of ${REDUCE_OPS.map((r) => `'${r}'`).join(', ')}`, String(reduce));
    if (dtype === 'bool') throw new DTypeError(op, 'tensor', 'a numeric dtype to reduce (bool tensors are not supported; cast first)', dtype);
    if (reduce === 'avg' && !isFloating(dtype)) throw new DTypeError(op, 'op', "a floating dtype for 'avg' (use 'sum' on integers)", dtype);
    return reduce as ReduceOp;
  }

  /** A collective's own timeout (undefined: the group's). */
  private checkTimeout(op: string, timeout: unknown): number | undefined {
    if (timeout === undefined) return undefined;
    if (typeof timeout !== 'number' || !(Number.isFinite(timeout) && timeout > 0)) throw new ValueError(op, 'timeout', 'a positive number of milliseconds', describeValue(timeout));
    return timeout;
  }

  private checkRank(op: string, arg: string, r: unknown): void {
    if (!Number.isInteger(r) || (r as number) < 0 || (r as number) >= this.size) throw new ValueError(op, arg, `a rank in [0, ${this.size})`, String(r));
  }

  /**
   * Checks a list of world-size tensors shaped as `like`, or one tensor of world size times like's
   * elements; returns the list (null for one tensor).
   */
  private checkBlocks(op: string, arg: string, value: Tensor | readonly Tensor[], like: Tensor): readonly Tensor[] | null {
    if (Array.isArray(value)) {
      if (value.length !== this.size) throw new ValueError(op, arg, `a list of ${this.size} tensors (one per rank)`, `${value.length} tensors`);
      value.forEach((t: unknown, i) => {
        this.checkTensor(op, `${arg}[${i}]`, t);
        if (t.dtype !== like.dtype) throw new DTypeError(op, `${arg}[${i}]`, `dtype ${like.dtype}`, t.dtype);
        if (fmtShape(t.shape) !== fmtShape(like.shape)) throw new ShapeError(op, `${arg}[${i}]`, `shape ${fmtShape(like.shape)}`, fmtShape(t.shape));
      });
      return value as readonly Tensor[];
    }
    this.checkTensor(op, arg, value);
    const t = value;
    if (t.dtype !== like.dtype) throw new DTypeError(op, arg, `dtype ${like.dtype}`, t.dtype);
    if (t.numel !== this.size * like.numel) {
      throw new ShapeError(op, arg, `${this.size} x ${like.numel} = ${this.size * like.numel} elements (world size times ${fmtShape(like.shape)}), or a list of ${this.size} tensors`, `${t.numel} elements (${fmtShape(t.shape)})`);
    }
    return null;
  }
}
