// gradcheck and gradgradcheck of the selections (sort, topk, maskedSelect): the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the selections (sort, topk, maskedSelect)', (dev) => gradcheckFamily('selection', dev));
