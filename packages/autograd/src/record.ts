/**
 * The AutogradHook the tensor core calls: records each op on tensors that require grad as an OpNode
 * (its derivative from the table), and rebases the history of tensors changed in place.
 */
import { type AutogradHook, type OpInput, type OpSchema, Tensor, isFloating } from '@kiln/tensor';
import { derivativeOf } from './derivative-table.js';
import { isGradEnabled } from './grad-mode.js';
import { CopyBackwards, noteView, rebaseHistory } from './inplace.js';
import type { Node } from './node.js';
import { OpNode } from './op-node.js';

function record(op: OpSchema, inputs: readonly OpInput[], outputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>): void {
  if (!op.differentiable) return;
  const node = new OpNode(op, derivativeOf(op.name), attrs, inputs, outputs);
  for (let k = 0; k < outputs.length; k++) {
    const o = outputs[k];
    // integer outputs (indices) get no gradient; an op handing back an input keeps the input's history
    if (!isFloating(o.dtype) || inputs.includes(o)) continue;
    o.gradFn = node;
    o.outputNr = k;
    o.setRequiresGradInternal(true);
    if (o.base !== null) noteView(o);
  }
}

function recordInplace(target: Tensor, result: Tensor): void {
  // result is the op's out-of-place result: target now stands where result stood in the graph
  if (result.gradFn !== null) rebaseHistory(target, result.gradFn as Node, result.outputNr);
  else rebaseHistory(target, new CopyBackwards(result), 0);
}

export const autogradHook: AutogradHook = {
  isGradEnabled,
  record,
  recordInplace,
};
