/**
 * Derivatives of the neural-network ops (packages/tensor/src/ops/nn.ts, ops/conv.ts). The backward
 * helpers the core provides are themselves recorded ops, so each has an entry here too and second
 * derivatives work: the convolution's two backward passes are derived below, im2col and col2im are
 * adjoint to each other, so are max pooling's backward and a gather at the pooling indices, and
 * nearest upsampling and its backward.
 */
import {
  type Conv2dAttrs, col2im, conv2d, conv2dBackwardInput, conv2dBackwardWeight, gather, im2col, maxPool2dBackward, sum,
  upsampleNearest2d, upsampleNearest2dBackward,
} from '@kiln/tensor';
import { type DerivativeContext, defineDerivative } from '../derivative-table.js';

interface WindowAttrs {
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}
const windowOf = (c: DerivativeContext): WindowAttrs => c.attrs as WindowAttrs;
// the convolution's options from a node's attrs (the backward passes also record a weight or input shape)
const convOf = (c: DerivativeContext): Conv2dAttrs => {
  const { stride, padding, dilation, groups } = c.attrs as Conv2dAttrs;
  return { stride, padding, dilation, groups };
};

// y = conv(x, W) + b is bilinear in (x, W). Its two backward passes are the adjoints of the maps
// x -> conv(x, W) and W -> conv(x, W):
//   Bx(gy, W) = J_xᵀ gy, so <Bx(gy, W), v> = <gy, conv(v, W)> for every v
//   Bw(gy, x) = J_Wᵀ gy, so <Bw(gy, x), V> = <gy, conv(x, V)> for every V
// hence gx = Bx(gy, W), gW = Bw(gy, x), gb = Σ gy over batch and positions.
defineDerivative('conv2d', {
  save: ['input', 'weight'],
  grads: {
    input: (c) => conv2dBackwardInput(c.grad, c.saved('weight'), c.inputShape('input'), convOf(c)),
    weight: (c) => conv2dBackwardWeight(c.grad, c.saved('input'), c.inputShape('weight'), convOf(c)),
    bias: (c) => sum(c.grad, [0, 2, 3]),
  },
});

// gx = Bx(gy, W) with upstream gradient ggx: the scalar <ggx, Bx(gy, W)> = <gy, conv(ggx, W)>
// (the adjoint identity above with v = ggx), which is linear in gy and in W, so
//   d/dgy = conv(ggx, W)          d/dW = Bw(gy, ggx)   (Bw's identity with x = ggx)
defineDerivative('conv2d_backward_input', {
  save: ['grad_output', 'weight'],
  grads: {
    grad_output: (c) => conv2d(c.grad, c.saved('weight'), null, convOf(c)),
    weight: (c) => conv2dBackwardWeight(c.saved('grad_output'), c.grad, c.inputShape('weight'), convOf(c)),
  },
});

// gW = Bw(gy, x) with upstream ggW: <ggW, Bw(gy, x)> = <gy, conv(x, ggW)>, so
//   d/dgy = conv(x, ggW)          d/dx = Bx(gy, ggW)   (Bx's identity with W = ggW)
defineDerivative('conv2d_backward_weight', {
  save: ['grad_output', 'input'],
  grads: {
    grad_output: (c) => conv2d(c.saved('input'), c.grad, null, convOf(c)),
    input: (c) => conv2dBackwardInput(c.saved('grad_output'), c.grad, c.inputShape('input'), convOf(c)),
  },
});

// im2col copies image positions into columns; its adjoint adds the columns back (col2im)
defineDerivative('im2col', {
  grads: {
    input: (c) => {
      const w = windowOf(c), shape = c.inputShape('input');
      return col2im(c.grad, [shape[2], shape[3]], w.kernelSize, w.stride, w.padding, w.dilation);
    },
  },
});
defineDerivative('col2im', {
  grads: { input: (c) => { const w = windowOf(c); return im2col(c.grad, w.kernelSize, w.stride, w.padding, w.dilation); } },
});

// each window's gradient goes to its argmax (output 1: the indices)
defineDerivative('max_pool2d', {
  save: ['output1'],
  grads: { input: (c) => maxPool2dBackward(c.grad, c.saved('output1'), c.attrs.inputShape as number[]) },
});
// max_pool2d_backward adds g at the argmax positions of each plane; its adjoint reads them (gather)
defineDerivative('max_pool2d_backward', {
  save: ['indices'],
  grads: {
    grad_output: (c) => {
      const indices = c.saved('indices');
      const [n, ch, oh, ow] = indices.shape as [number, number, number, number];
      const h = c.grad.reshape([n, ch, -1]);
      return gather(h, 2, indices.reshape([n, ch, oh * ow])).view([n, ch, oh, ow]);
    },
  },
});

interface UpsampleAttrs {
  outputSize: [number, number];
  scaleFactor: [number, number] | null;
  inputShape: number[];
}
defineDerivative('upsample_nearest2d', {
  grads: {
    input: (c) => {
      const a = c.attrs as UpsampleAttrs;
      return upsampleNearest2dBackward(c.grad, a.inputShape, { scaleFactor: a.scaleFactor });
    },
  },
});
// the backward sums the output positions that read each input position; its adjoint is the upsampling
defineDerivative('upsample_nearest2d_backward', {
  grads: {
    grad_output: (c) => {
      const a = c.attrs as UpsampleAttrs;
      return upsampleNearest2d(c.grad, a.scaleFactor ? { scaleFactor: a.scaleFactor } : { size: a.outputSize });
    },
  },
});
