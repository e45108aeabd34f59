/**
 * @packageDocumentation
 * kiln-deform-conv: modulated deformable convolution (DCNv2) for Kiln, as a native extension built
 * outside Kiln's repository: CPU and CUDA kernels in native/, loaded when this package is imported.
 *
 * ```ts
 * import { rand, randn } from '@kiln/tensor';
 * import { deformConv2d } from 'kiln-deform-conv';
 * const y = deformConv2d(randn([1, 4, 8, 8]), randn([1, 18, 8, 8]), randn([8, 4, 3, 3]), { mask: rand([1, 9, 8, 8]), padding: 1 });
 * ```
 */
export { extension } from './extension.js';
export { DeformIm2colFunction, type DeformIm2colOptions, type DeformWindow, deformIm2col } from './deform-im2col.js';
export { type DeformConv2dOptions, deformConv2d } from './deform-conv2d.js';
