/**
 * unique (torch.unique without `dim`): the distinct values of a tensor, sorted, with the inverse
 * map and the counts on request. Composed from the sort and selection kernels: a stable sort of
 * the flattened values, a flag where each run of equal values starts, the flags numbered
 * (one count read back: on CUDA one synchronisation), then the runs' first values, their starts
 * and the inverse map scattered back through the sort's permutation. Not differentiable.
 *
 * Values compare with `!=`: -0.0 and +0.0 are one value, and every NaN is a value of its own (as
 * PyTorch's unique on the CPU), listed after +inf.
 */
import { checkBoolean, checkOptionKeys } from '../check.js';
import { commonDevice, empty, launchKernel } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { tidy } from '../scope.js';
import { cat } from './join.js';
import { ne, sub } from './elementwise.js';
import { scatter } from './indexing.js';
import { numberSelected } from './selection.js';
import { runSort } from './sort.js';
import { full } from './creation.js';

/** Options of {@link unique} (torch.unique's keyword arguments). */
export interface UniqueOptions {
  /** Sort the values (default true). Kiln always returns them sorted. */
  sorted?: boolean;
  /** Also return, for each input element, the position of its value in `values` (input's shape). */
  returnInverse?: boolean;
  /** Also return how many times each value occurs. */
  returnCounts?: boolean;
}

/** What {@link unique} returns when `returnInverse` or `returnCounts` is set. */
export interface UniqueResult {
  /** The distinct values, ascending (1-d). */
  values: Tensor;
  /** With `returnInverse`: int64, input's shape, `values[inverse[i]] == input[i]`. */
  inverse?: Tensor;
  /** With `returnCounts`: int64, how many elements of the input equal each value. */
  counts?: Tensor;
}

/**
 * The distinct values of `input` (flattened), ascending, as `torch.unique`; with `returnInverse`
 * and/or `returnCounts`, an object with the inverse map and the counts as well.
 *
 * @example
 * ```ts
 * const labels = tensor([3, 1, 3, 2], { dtype: 'int64' });
 * unique(labels).toArray();                          // [1, 2, 3]
 * const { inverse, counts } = unique(labels, { returnInverse: true, returnCounts: true });
 * inverse!.toArray();                                // [2, 0, 2, 1]
 * counts!.toArray();                                 // [1, 1, 2]
 * ```
 */
export function unique(x: Tensor, options?: UniqueOptions & { returnInverse?: false; returnCounts?: false }): Tensor;
export function unique(x: Tensor, options: UniqueOptions): UniqueResult;
export function unique(x: Tensor, options: UniqueOptions = {}): Tensor | UniqueResult {
  const dev = commonDevice('unique', ['input'], [x]);
  // PyTorch's dim (unique rows) is not implemented: refused with the other unknown keys, not ignored
  checkOptionKeys('unique', options, { sorted: true, returnInverse: true, returnCounts: true });
  for (const flag of ['sorted', 'returnInverse', 'returnCounts'] as const) {
    if (options[flag] !== undefined) checkBoolean('unique', flag, options[flag]);   // returnInverse: 'no' returned the inverse
  }
  const n = x.numel;
  const result = tidy((): UniqueResult => {
    const [sorted, order] = runSort('sort', x.reshape([n]), 0, n, false);
    // a run of equal values starts at 0 and wherever a value differs from the one before
    const starts = n === 0 ? empty([0], 'bool', dev) : cat([full([1], true, { device: dev }), ne(sorted.slice(0, 1), sorted.slice(0, 0, n - 1))]);
    const { positions, count } = numberSelected(starts);
    const values = empty([count], x.dtype, dev);
    if (count > 0) launchKernel('masked_select', [sorted, starts, positions], [values]);
    const out: UniqueResult = { values };
    if (options.returnInverse) {
      // sorted element i belongs to run positions[i] - 1 and came from input element order[i]
      out.inverse = scatter(empty([n], 'int64', dev), 0, order, sub(positions, 1)).reshape(x.shape);
    }
    if (options.returnCounts) {
      const firsts = empty([count, 1], 'int64', dev);
      if (count > 0) launchKernel('nonzero', [starts, positions], [firsts]);
      const first = firsts.reshape([count]);
      out.counts = sub(cat([first.slice(0, 1), full([1], n, { dtype: 'int64', device: dev })]), first);
    }
    return out;
  });
  return options.returnInverse || options.returnCounts ? result : result.values;
}

declare module '../tensor.js' {
  interface Tensor {
    /** The distinct values, ascending. See {@link unique}. */
    unique(): Tensor;
  }
}

Tensor.prototype.unique = function () { return unique(this); };
