/**
 * Which leaves a backward pass would reach: DistributedDataParallel's `findUnusedParameters` walks
 * the graph of a forward's outputs to learn which parameters get no gradient in this iteration, as
 * PyTorch's reducer does from the outputs' grad_fn.
 */
import { Tensor } from '@kiln/tensor';
import { AccumulateGrad, type Node } from './node.js';

/**
 * The leaf tensors that require grad and that a backward pass from `roots` would give a gradient
 * (the variables of the AccumulateGrad nodes reachable from the roots' gradFn; a root that is such
 * a leaf itself counts). Non-tensors in `roots` are skipped.
 *
 * @example
 * ```ts
 * const w = tensor([1, 2], { requiresGrad: true }), unused = tensor([3], { requiresGrad: true });
 * reachableLeaves([w.mul(2).sum()]).has(w);        // true
 * reachableLeaves([w.mul(2).sum()]).has(unused);   // false
 * ```
 */
export function reachableLeaves(roots: readonly unknown[]): Set<Tensor> {
  const leaves = new Set<Tensor>();
  const seen = new Set<Node>();
  const stack: Node[] = [];
  for (const r of roots) {
    if (!(r instanceof Tensor)) continue;
    if (r.gradFn !== null) stack.push(r.gradFn as Node);
    else if (r.requiresGrad) leaves.add(r);
  }
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n instanceof AccumulateGrad) leaves.add(n.variable);
    for (const m of n.nextNodes) if (m !== null && !seen.has(m)) stack.push(m);
  }
  return leaves;
}
