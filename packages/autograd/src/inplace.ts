/**
 * In-place ops in the graph. The core runs `x.op_(y)` as `r = op(x, y)` (recorded as usual), copies
 * r into x and bumps x's version; then x takes r's place in the graph ("rebasing" its history).
 *
 * When x is a view of a base tensor b, b's values changed too, so b's history is rebased as well, as
 * PyTorch's CopySlices does: b's new node sends the part of b's gradient inside the view's region to
 * r's node, and the rest (zero inside the region) to b's old history; x itself becomes a view of the
 * new b. Other views of b made before the in-place op get their history regenerated (as views of
 * the new b) the next time they are used, as PyTorch does: each base counts its rebases, each view
 * remembers the count it was made at.
 */
import { AutogradError, type DType, type Device, Tensor, emptyOn, zeros } from '@kiln/tensor';
import { type BackwardTask, Node, setViewRefresher } from './node.js';

/** base -> how many times its history was rebased by in-place ops */
const rebases = new WeakMap<Tensor, number>();
/** view -> the base's rebase count when the view got its history */
const viewMadeAt = new WeakMap<Tensor, number>();

/** Called when a view gets a history (recorded as an op's output). */
export function noteView(view: Tensor): void {
  viewMadeAt.set(view, rebases.get(view.base!) ?? 0);
}

function bumpRebases(base: Tensor): number {
  const n = (rebases.get(base) ?? 0) + 1;
  rebases.set(base, n);
  return n;
}

/** A view whose base was rebased since it got its history becomes a view of the base's new history. */
function refreshView(view: Tensor): void {
  const madeAt = viewMadeAt.get(view);
  if (madeAt === undefined) return;
  const base = view.base!;
  const now = rebases.get(base) ?? 0;
  if (madeAt === now || base.gradFn === null) return;
  view.gradFn = new RebasedView(base.gradFn as Node, base.outputNr, base, view);
  view.outputNr = 0;
  view.setRequiresGradInternal(true);
  viewMadeAt.set(view, now);
}
setViewRefresher(refreshView);

/** Makes `target`, just overwritten in place, the output `outputNr` of `fn`. */
export function rebaseHistory(target: Tensor, fn: Node, outputNr: number): void {
  if (target.requiresGrad && target.isLeaf) {
    throw new AutogradError({
      op: fn.name, argument: 'self',
      message: 'a leaf tensor that requires grad was modified by an in-place operation; wrap parameter updates in noGrad()',
    });
  }
  const base = target.base;
  if (base === null) {
    target.gradFn = fn;
    target.outputNr = outputNr;
    target.setRequiresGradInternal(true);
    bumpRebases(target); // views of target made before now are stale
    return;
  }
  if (base.requiresGrad && base.isLeaf) {
    throw new AutogradError({
      op: fn.name, argument: 'self',
      message: 'a view of a leaf tensor that requires grad was modified by an in-place operation; modify the leaf under noGrad(), or clone() it first',
    });
  }
  const copySlices = new CopySlices(base, target, fn, outputNr);
  base.gradFn = copySlices;
  base.outputNr = 0;
  base.setRequiresGradInternal(true);
  target.gradFn = new RebasedView(copySlices, 0, base, target);
  target.outputNr = 0;
  target.setRequiresGradInternal(true);
  viewMadeAt.set(target, bumpRebases(base));
}

/** The node of a tensor that took the values of a leaf (copy_ from a leaf): passes the gradient on. */
export class CopyBackwards extends Node {
  readonly name = 'CopyBackwards';
  constructor(src: Tensor) {
    super(1);
    this.connect(0, src);
  }
  apply(grads: (Tensor | undefined)[]): (Tensor | undefined)[] {
    return [grads[0]];
  }
}

/** Shape, strides and offset of a tensor within its storage. */
interface Geometry {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

const geometryOf = (t: Tensor): Geometry => ({ shape: t.shape, strides: t.strides, offset: t.offset });

/**
 * A scratch buffer laid out like the base's storage, so the view's region inside a gradient of the
 * base's shape is a strided view of it with the view's own strides and offset.
 */
class Layout {
  private readonly shift: number;
  private readonly span: number;
  constructor(
    private readonly base: Geometry,
    private readonly view: Geometry,
    private readonly dtype: DType,
    private readonly device: Device,
  ) {
    let lo = base.offset, hi = base.offset;
    base.shape.forEach((n, d) => {
      const reach = (n - 1) * base.strides[d];
      if (reach < 0) lo += reach;
      else hi += reach;
    });
    this.shift = lo;
    this.span = base.shape.includes(0) ? 0 : hi - lo + 1;
  }
  /** A buffer (zeroed or not) with views over it as the base and as the view. */
  views(zeroed: boolean): { buffer: Tensor; base: Tensor; region: Tensor } {
    const buffer = zeroed ? zeros([this.span], { dtype: this.dtype, device: this.device }) : emptyOn([this.span], this.dtype, this.device);
    const at = (g: Geometry) => new Tensor(buffer.storage, [...g.shape], [...g.strides], g.offset - this.shift, this.dtype);
    return { buffer, base: at(this.base), region: at(this.view) };
  }
}

function noDoubleBackward(task: BackwardTask, name: string): void {
  if (task.createGraph) {
    throw new AutogradError({ op: name, detail: 'double backward (createGraph) through an in-place operation on a view is not supported; use the out-of-place op' });
  }
}

/** The new node of a base tensor after an in-place op on one of its views. */
class CopySlices extends Node {
  readonly name = 'CopySlices';
  private readonly layout: Layout;
  constructor(base: Tensor, view: Tensor, fn: Node, outputNr: number) {
    super(2);
    if (base.requiresGrad) this.connect(0, base);
    this.connectEdge(1, fn, outputNr, view.shape, view.dtype, view.device);
    this.layout = new Layout(geometryOf(base), geometryOf(view), base.dtype, base.device);
  }
  apply(grads: (Tensor | undefined)[], task: BackwardTask): (Tensor | undefined)[] {
    noDoubleBackward(task, this.name);
    const { buffer, base, region } = this.layout.views(false);
    base.copy_(grads[0]!);
    const forResult = this.needsInputGrad(1) ? region.clone() : undefined;
    region.fill_(0);
    region.dispose();
    buffer.dispose();
    if (!this.needsInputGrad(0)) base.dispose();
    return [this.needsInputGrad(0) ? base : undefined, forResult];
  }
}

/**
 * The node of a view whose base was changed in place: the view's gradient is the base's, zero
 * outside the view.
 */
class RebasedView extends Node {
  readonly name = 'AsStridedBackward';
  private readonly layout: Layout;
  constructor(baseNode: Node, baseSlot: number, base: Tensor, view: Tensor) {
    super(1);
    this.connectEdge(0, baseNode, baseSlot, base.shape, base.dtype, base.device);
    this.layout = new Layout(geometryOf(base), geometryOf(view), base.dtype, base.device);
  }
  apply(grads: (Tensor | undefined)[], task: BackwardTask): (Tensor | undefined)[] {
    noDoubleBackward(task, this.name);
    const { buffer, base, region } = this.layout.views(true);
    region.copy_(grads[0]!);
    region.dispose();
    buffer.dispose();
    return [base];
  }
}
