/**
 * @packageDocumentation
 * `@kiln/autograd`: importing it makes ops on tensors that require grad record a graph, and adds
 * `backward`, `detach`, `retainGrad` and `registerHook` to Tensor, as in PyTorch.
 *
 * ```ts
 * import { tensor } from '@kiln/tensor';
 * import { noGrad } from '@kiln/autograd';
 * const w = tensor([1, 2, 3], { requiresGrad: true });
 * const loss = w.mul(w).sum();
 * loss.backward();
 * console.log(w.grad!.toArray());                    // [2, 4, 6]
 * noGrad(() => w.sub_(w.grad!.mul(0.1)));            // an SGD step
 * ```
 */
import { setAutogradHook } from '@kiln/tensor';
import { autogradHook } from './record.js';
import './tensor-methods.js';
import './derivatives/index.js';

setAutogradHook(autogradHook);

export {
  isGradEnabled, setGradEnabled, noGrad, enableGrad, noGradScope, enableGradScope, gradModeScope, withGradMode,
} from './grad-mode.js';
export { backward, grad, queueCallback, type BackwardOptions, type GradOptions } from './engine.js';
export {
  Function, FunctionCtx, type SavedTensor, type BackwardResult, type ArgsOf, type ResultOf, type FunctionClass, type CtxCheck,
} from './function.js';
export { isImplicitGradient } from './implicit-gradient.js';
export {
  defineDerivative, derivativeOf, derivativeNames, type DerivativeContext, type DerivativeSpec, type GradFormula, type PositionalGrads,
  type Derivative, type SaveSource,
} from './derivative-table.js';
export { sumToShape } from './shape-utils.js';
export { zeroGrad } from './zero-grad.js';
export { reachableLeaves } from './reachable-leaves.js';
export {
  gradcheck, gradgradcheck, checkGradients, type GradcheckOptions, type GradcheckReport, type GradcheckMismatch, type GradcheckFn,
} from './gradcheck.js';
export type { GradHook, PostAccumulateGradHook, Node, BackwardTask } from './node.js';
export type { RemovableHandle } from './tensor-methods.js';
