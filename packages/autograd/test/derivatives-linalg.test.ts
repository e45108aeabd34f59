// gradcheck and gradgradcheck of the matmul, indexing and join: the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the matmul, indexing and join', (dev) => gradcheckFamily('linalg', dev));
