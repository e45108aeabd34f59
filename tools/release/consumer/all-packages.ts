// Every package a user installs, imported for its types: tsc in the installed project checks all of
// their published declarations (not only those the README example reaches).
import type * as tensor from '@kiln/tensor';
import type * as autograd from '@kiln/autograd';
import type * as cuda from '@kiln/cuda';
import type * as losses from '@kiln/losses';
import type * as nn from '@kiln/nn';
import type * as optim from '@kiln/optim';
import type * as vision from '@kiln/vision';

export type PublicApi = [typeof tensor, typeof autograd, typeof cuda, typeof losses, typeof nn, typeof optim, typeof vision];
