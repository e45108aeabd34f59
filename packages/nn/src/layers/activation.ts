/** Activation modules. */
import { type Tensor, relu } from '@kiln/tensor';
import { Module } from '../module.js';

/** max(x, 0) elementwise (NaN stays NaN). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}
