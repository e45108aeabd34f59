// gradcheck and gradgradcheck of the nn ops (conv2d, im2col/col2im, max-pool, upsample): the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the nn ops (conv2d, im2col/col2im, max-pool, upsample)', (dev) => gradcheckFamily('nn', dev));
