// gradcheck and gradgradcheck of the unary elementwise ops: the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the unary elementwise ops', (dev) => gradcheckFamily('unary', dev));
