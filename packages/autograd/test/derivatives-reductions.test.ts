// gradcheck and gradgradcheck of the reductions and softmax: the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the reductions and softmax', (dev) => gradcheckFamily('reductions', dev));
