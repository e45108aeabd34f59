// The writer that state-file.test.ts kills mid-save: saves a 16 MB state dict to argv[2] over and
// over, its 'version' alternating 1 and 2, until killed.
import { tensor, zeros } from '@kiln/tensor';
import { saveStateDict } from '@kiln/nn';

const path = process.argv[2];
const big = zeros([4 << 20]);
for (let i = 0; ; i++) saveStateDict({ version: tensor([1 + (i % 2)], { dtype: 'int32' }), big }, path);
