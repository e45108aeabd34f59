// Importing @kiln/cuda from an installed project: it must load on any machine, and say why CUDA is
// unavailable where it is (tools/release/install-check.sh checks the reason).
import { cuda } from '@kiln/cuda';

console.log(JSON.stringify({ available: cuda.isAvailable(), deviceCount: cuda.deviceCount(), reason: cuda.unavailableReason() }));
