// gradcheck and gradgradcheck of the views and conversions: the cases are in derivative-cases.ts.
import { forEachDevice } from '@kiln/tensor/testing';
import { gradcheckFamily } from './derivative-cases.js';

forEachDevice('derivatives of the views and conversions', (dev) => gradcheckFamily('views', dev));
