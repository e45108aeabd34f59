import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShapeError, ValueError, randn, tidy } from '@kiln/tensor';
import { FrozenBatchNorm2d, saveStateDict } from '@kiln/nn';
import { IntermediateLayerGetter, loadTorchvisionWeights, resnet18 } from '@kiln/vision';

// In Python (torchvision and safetensors):
//   from safetensors.torch import save_file
//   save_file(torchvision.models.resnet18(weights='DEFAULT').state_dict(), 'resnet18.safetensors')
// Here a file with torchvision's names is written from another Kiln ResNet-18, for the example.
const dir = mkdtempSync(join(tmpdir(), 'kiln-weights-'));
const file = join(dir, 'resnet18.safetensors');
const source = resnet18().eval();
const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
saveStateDict(Object.fromEntries(Object.entries(source.stateDict()).map(([k, t]) => [snake(k), t])), file);

// torchvision's keys (layer1.0.bn1.running_mean) map to Kiln's (layer1.0.bn1.runningMean). Frozen
// batch norms take a BatchNorm2d's weights and drop its num_batches_tracked, as in torchvision.
const model = resnet18({ normLayer: (c) => new FrozenBatchNorm2d(c) }).eval();
loadTorchvisionWeights(model, file);
const x = randn([1, 3, 64, 64], { seed: 3 });
tidy(() => assert.ok(model.call(x).sub(source.call(x)).abs().max().item() < 1e-4));

// strict (the default): a key missing or left over is a ValueError naming them, and nothing changes.
// A classifier's weights for a backbone without the classifier: its fc keys are left over.
const body = new IntermediateLayerGetter(resnet18(), { layer4: 'c5' });
assert.throws(() => loadTorchvisionWeights(body, file), ValueError);
// strict: false loads what matches and says what did not (PyTorch's load_state_dict(strict=False)).
const { missingKeys, unexpectedKeys } = loadTorchvisionWeights(body, file, { strict: false });
assert.deepEqual([missingKeys, unexpectedKeys], [[], ['fc.weight', 'fc.bias']]);
// A shape that differs is an error either way (a 10-class fc against the file's 1000 classes).
assert.throws(() => loadTorchvisionWeights(resnet18({ numClasses: 10 }), file, { strict: false }), ShapeError);
rmSync(dir, { recursive: true, force: true });
