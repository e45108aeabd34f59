// The first tensor op in an installed project whose CPU platform package is missing (the install
// check hides it): an AddonLoadError whose message the check reads.
import { AddonLoadError, tensor } from '@kiln/tensor';

try {
  tensor([1, 2, 3]);
  console.log('no error: the CPU addon was found');
  process.exitCode = 1;
} catch (e) {
  if (!(e instanceof AddonLoadError)) throw e;
  console.log(e.message);
}
