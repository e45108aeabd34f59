/** Derivatives of dtype and device conversions and clone (packages/tensor/src/ops/convert.ts). */
import type { Device, DType } from '@kiln/tensor';
import { defineDerivative } from '../derivative-table.js';

// the gradient goes back to the input's dtype / device (attrs hold the input's)
defineDerivative('to_dtype', { grads: { input: (c) => c.grad.to(c.attrs.dtype as DType) } });
defineDerivative('to_device', { grads: { input: (c) => c.grad.to(c.attrs.device as Device) } });
defineDerivative('clone', { grads: { input: (c) => c.grad } });
defineDerivative('pin_memory', { grads: { input: (c) => c.grad } });
