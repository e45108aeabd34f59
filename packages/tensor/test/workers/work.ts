// The work that workers.test.ts runs on several threads at once: allocations of mixed sizes (small
// ones through the JS cache, large ones through the shared native allocator), kernels with
// broadcasting, a reduction, a matmul, a device error path, frees. Every result is checked against
// a float64 reference computed in JS, so a call that read another thread's arguments or memory
// shows as a wrong value, not only as a crash.
import { ShapeError, matmul, tensor, tidy } from '@kiln/tensor';

/** Deterministic values in [-1, 1) from a seed (an LCG), independent of Kiln's RNG. */
export function values(seed: number, n: number): number[] {
  let s = (seed * 2654435761) >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * One round: y = (a * b + 1).sum() for a [n, m] and b [m] (broadcast), and c = a @ a^T summed,
 * checked against JS; returns the first sum. Throws on a mismatch.
 */
export function computeOnce(device: 'cpu' | 'cuda', seed: number): number {
  const n = 3 + (seed % 61), m = 5 + (seed % 37);
  const av = values(seed, n * m), bv = values(seed + 1, m);
  let expected = 0, expectedMm = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) expected += av[i * m + j] * bv[j] + 1;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      let dot = 0;
      for (let j = 0; j < m; j++) dot += av[i * m + j] * av[k * m + j];
      expectedMm += dot;
    }
  }
  return tidy(() => {
    const a = tensor(av, { dtype: 'float64', device }).reshape([n, m]);
    const b = tensor(bv, { dtype: 'float64', device });
    const big = tensor(values(seed + 2, 70_000), { dtype: 'float64', device });   // past the JS cache's 64 KiB
    const got = a.mul(b).add(1).sum().item();
    const mm = (matmul(a, a.t())).sum().item();
    const bigSum = big.sum().item();
    const bigRef = values(seed + 2, 70_000).reduce((x, y) => x + y, 0);
    try {
      a.add(tensor([1, 2], { dtype: 'float64', device }));   // shapes that do not broadcast: a typed error
      throw new Error('expected a ShapeError');
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
    }
    const tol = (x: number) => 1e-9 * Math.max(1, Math.abs(x));
    if (Math.abs(got - expected) > tol(expected)) throw new Error(`seed ${seed}: sum ${got}, expected ${expected}`);
    if (Math.abs(mm - expectedMm) > tol(expectedMm)) throw new Error(`seed ${seed}: matmul sum ${mm}, expected ${expectedMm}`);
    if (Math.abs(bigSum - bigRef) > tol(bigRef)) throw new Error(`seed ${seed}: large sum ${bigSum}, expected ${bigRef}`);
    return got;
  });
}
