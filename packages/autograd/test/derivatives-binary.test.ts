// gradcheck and gradgradcheck of the binary elementwise ops (broadcasting, numbers, random sweeps): the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the binary elementwise ops (broadcasting, numbers, random sweeps)', (dev) => gradcheckFamily('binary', dev));
