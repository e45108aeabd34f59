/** Conv2d: 2-D convolution over [N, C, H, W] (PyTorch's nn.Conv2d, with its initialisation). */
import { type DType, type DeviceLike, type Size2, type Tensor, ValueError, conv2d } from '@kiln/tensor';
import { Module } from '../module.js';
import { type Parameter } from '../parameter.js';
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from '../init.js';
import { newParameter } from './linear.js';

export interface Conv2dOptions {
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
  groups?: number;
  bias?: boolean;
  dtype?: DType;
  device?: DeviceLike;
}

const pair = (v: Size2): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: Conv2dOptions = {}) {
    super();
    const groups = options.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1) throw new ValueError('Conv2d', 'groups', 'a positive integer', String(groups));
    for (const [name, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError('Conv2d', name, 'a positive integer', String(v));
      if (v % groups !== 0) throw new ValueError('Conv2d', name, `a multiple of groups (${groups})`, String(v));
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    this.groups = groups;
    if (!this.kernelSize.every((k) => Number.isInteger(k) && k >= 1)) throw new ValueError('Conv2d', 'kernelSize', 'positive integers', `[${this.kernelSize.join(', ')}]`);
    this.weight = newParameter([outChannels, inChannels / groups, ...this.kernelSize], options.dtype, options.device);
    this.bias = options.bias === false ? null : newParameter([outChannels], options.dtype, options.device);
    this.resetParameters();
  }

  /** PyTorch's initialisation: weight from kaiming_uniform(a = sqrt(5)), bias from U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  resetParameters(): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = 1 / Math.sqrt(calculateFanInAndFanOut(this.weight)[0]);
      uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}
