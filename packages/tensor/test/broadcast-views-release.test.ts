// Broadcasting binary ops, where() and copy_ expand their operands into views for the kernel;
// those views hold references to the operands' storage and must be released (they leaked 64 bytes
// a call before), on every device.
import { it } from 'vitest';
import { tensor, where, zeros } from '@kiln/tensor';
import { expectAllocatedUnchanged, forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

forEachDevice('broadcast views are released', (dev) => {
  const cases: [string, () => void][] = [
    ['mul [2, 2] × [2]', () => { const a = tensor([[1, 2], [3, 4]], { device: dev }), b = tensor([1, 2], { device: dev }); const c = a.mul(b); a.dispose(); b.dispose(); c.dispose(); }],
    ['where with a broadcast condition', () => { const m = tensor([true, false], { device: dev }), a = tensor([[1, 2], [3, 4]], { device: dev }); const c = where(m, a, 0); a.dispose(); m.dispose(); c.dispose(); }],
    ['copy_ from a broadcast source', () => { const a = zeros([2, 2], { device: dev }), b = tensor([1, 2], { device: dev }); a.copy_(b); a.dispose(); b.dispose(); }],
    ['copy_ from another device', () => { const a = zeros([2, 2], { device: dev }), b = tensor([1, 2]); a.copy_(b); a.dispose(); b.dispose(); }],
  ];
  for (const [name, f] of cases) {
    it(`${name}: allocated memory unchanged after 10 calls`, () => expectAllocatedUnchanged(dev, f, 10));
  }
});
