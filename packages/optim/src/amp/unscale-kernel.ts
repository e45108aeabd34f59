/**
 * The launch of GradScaler's native kernel `amp_non_finite_check_and_unscale`
 * (non_finite_check_cpu.cc, non_finite_check_cuda.cu; formula and layout in non_finite_check.h):
 * many gradients per launch, grouped by dtype, `MAX_KERNEL_TENSORS - 1` of them with the flag.
 */
import {
  type Tensor, MAX_KERNEL_TENSORS, DTypeError, DeviceError, ValueError, declareOp, describeTensor, fmtShape, isFloating, launchKernel, tidy,
} from '@kiln/tensor';

declareOp('amp_non_finite_check_and_unscale', ['grads'], false);

const OP = 'ampNonFiniteCheckAndUnscale_';

/**
 * Multiplies every gradient by `invScale` in place and sets `foundInf` (a float32 tensor of one
 * element on the gradients' device) to 1 when an element of some gradient is infinite or NaN,
 * leaving it as it was otherwise; nothing is read back to the host (PyTorch's
 * `torch._amp_foreach_non_finite_check_and_unscale_`). GradScaler calls it; a non-contiguous
 * gradient is unscaled through a contiguous copy.
 *
 * @example
 * ```ts
 * const found = zeros([1], { device: g.device });
 * ampNonFiniteCheckAndUnscale_([g], found, 1 / 65536);
 * if (found.item() !== 0) console.log('skip this step');
 * ```
 */
export function ampNonFiniteCheckAndUnscale_(grads: readonly Tensor[], foundInf: Tensor, invScale: number): void {
  foundInf.assertAlive(OP);
  if (foundInf.dtype !== 'float32' || foundInf.numel !== 1) throw new DTypeError(OP, 'foundInf', 'a float32 tensor of one element', describeTensor(foundInf));
  if (!Number.isFinite(invScale)) throw new ValueError(OP, 'invScale', 'a finite number', String(invScale));
  const byDtype = new Map<string, Tensor[]>();
  grads.forEach((g, i) => {
    g.assertAlive(OP);
    if (g.device !== foundInf.device) throw new DeviceError(OP, `grads[${i}]`, `a tensor on ${foundInf.device} (foundInf's device)`, `a tensor on ${g.device}`);
    if (!isFloating(g.dtype)) throw new DTypeError(OP, `grads[${i}]`, 'a floating-point tensor', `${g.dtype} of shape ${fmtShape(g.shape)}`);
    if (g.numel === 0) return;
    let list = byDtype.get(g.dtype);
    if (!list) byDtype.set(g.dtype, (list = []));
    list.push(g);
  });
  const perLaunch = MAX_KERNEL_TENSORS - 1;
  for (const list of byDtype.values()) {
    for (let start = 0; start < list.length; start += perLaunch) {
      const batch = list.slice(start, start + perLaunch);
      tidy(() => {
        const outs = batch.map((g) => (g.isContiguous ? g : g.contiguous()));
        launchKernel('amp_non_finite_check_and_unscale', [], [...outs, foundInf], [invScale]);
        batch.forEach((g, i) => {
          if (outs[i] !== g) g.copy_(outs[i]);   // copy_ bumps the version
          else g.storage.version++;
        });
      });
    }
  }
  foundInf.storage.version++;
}
