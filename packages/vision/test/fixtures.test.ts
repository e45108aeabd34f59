/**
 * @kiln/vision against torchvision on every device: each case of the CPU fixtures (torchvision
 * 0.14, tools/reference/make_vision_fixtures.py) run through Kiln and compared with torchvision's
 * outputs and input gradients; on CUDA, also the GPU machine's fixtures (torchvision's CUDA
 * kernels, fixtures/cuda.json) when that file is present.
 */
import { describe, it } from 'vitest';
import { tidy } from '@kiln/tensor';
import { cudaAvailable, forEachDevice } from '@kiln/tensor/testing';
import { checkCase, loadFixtures } from './fixture-cases.js';

const families = ['nms', 'roi', 'boxes'] as const;

forEachDevice('torchvision fixtures (CPU, torchvision 0.14)', (dev) => {
  for (const family of families) {
    const file = loadFixtures(`${family}.json`)!;
    describe(`${family}.json`, () => {
      for (const c of file.cases) it(c.name, () => tidy(() => checkCase(c, dev)));
    });
  }
});

const cuda = loadFixtures('cuda.json');
if (cuda === null || !cudaAvailable()) {
  describe.skip(`torchvision CUDA fixtures (skipped: ${cuda === null ? 'fixtures/cuda.json is absent: run tools/reference/make_vision_cuda_fixtures.py on the GPU machine' : 'no CUDA device'})`, () => {
    it('runs every case on CUDA', () => {});
  });
} else {
  describe(`torchvision CUDA fixtures (torchvision ${cuda.torchvision}) [cuda]`, () => {
    for (const c of cuda.cases) it(c.name, () => tidy(() => checkCase(c, 'cuda')));
  });
}
