/**
 * Kiln's CPU matrix product against numpy (OpenBLAS through Debian's libblas alternative) and
 * PyTorch 1.13 (Debian's python3-torch), interleaved in one run, on one thread and on two.
 *
 * How to run (from the repository root; KILN_NATIVE_DIR only when the addon is not in native/build):
 *   apt-get install -y python3-torchvision libopenblas0-pthread     # once: the references
 *   node --conditions=@kiln/source --import tsx tools/bench/gemm-cpu.ts [--threads 1,2] [--rounds 7]
 *        [--cases square,conv,batched] [--dtypes float32,float64] [--out FILE.md]
 *
 * Cases: square float32 (64² ... 1024²) and float64; the products of the example's 3×3 convolution
 * layers (width 16 on 16×16 maps, batch 8, through im2col: forward, input gradient and weight
 * gradient); a batch of small products. Each (case, threads) runs `rounds` rounds; a round times
 * Kiln, numpy and PyTorch for a batch of calls each (about 30 ms), one after the other, so the load
 * of a shared machine falls on all three alike. Reported: the minimum and the median per-call time
 * over all timed calls, and GFLOP/s at the minimum (2·M·N·K per product). Kiln's result is checked
 * against a float64 product first. The load average is printed with the table.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { type DType, type Tensor, cpuInfo, cpuThreads, matmul, randn } from '@kiln/tensor';
import { parseOptions } from './cli-options.js';
import { CpuOpsServer } from './cpu-ops-server.js';

const options = parseOptions(process.argv.slice(2), {
  threads: { type: 'numbers', default: '1,2' },
  rounds: { type: 'number', default: '7' },
  cases: { type: 'strings', default: 'square,conv,batched' },
  dtypes: { type: 'strings', default: 'float32,float64' },
  out: { type: 'string', default: '' },
});
const threadCounts = options.threads;
const rounds = options.rounds;
const caseGroups = options.cases;
const dtypes = options.dtypes as DType[];
const outFile = options.out;

interface Case {
  name: string;
  /** [batch, M, K, N] */
  shape: [number, number, number, number];
  dtype: DType;
}

function cases(): Case[] {
  const out: Case[] = [];
  if (caseGroups.includes('square')) {
    for (const n of [64, 128, 256, 512, 1024]) if (dtypes.includes('float32')) out.push({ name: `${n}²`, shape: [1, n, n, n], dtype: 'float32' });
    for (const n of [256, 512]) if (dtypes.includes('float64')) out.push({ name: `${n}²`, shape: [1, n, n, n], dtype: 'float64' });
  }
  if (caseGroups.includes('conv')) {
    // conv 16 -> 16, 3×3 on [8, 16, 16, 16] through im2col: K = 16·9 = 144, N = 8·16·16 = 2048
    out.push({ name: 'conv fwd W·cols', shape: [1, 16, 144, 2048], dtype: 'float32' });
    out.push({ name: 'conv grad-in Wᵀ·dY', shape: [1, 144, 16, 2048], dtype: 'float32' });
    out.push({ name: 'conv grad-W dY·colsᵀ', shape: [1, 16, 2048, 144], dtype: 'float32' });
  }
  if (caseGroups.includes('batched')) out.push({ name: '8 × 64²', shape: [8, 64, 64, 64], dtype: 'float32' });
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (s: string) => console.log(s);

/** Max |kiln - float64 reference| / max |reference|, with the reference from Kiln's float64 path. */
function checkAgainstFloat64(a: Tensor, b: Tensor): number {
  const c = matmul(a, b), ref = matmul(a.to('float64'), b.to('float64'));
  const x = c.toTypedArray(), y = ref.toTypedArray();
  let num = 0, den = 0;
  for (let i = 0; i < y.length; i++) {
    num = Math.max(num, Math.abs(Number(x[i]) - Number(y[i])));
    den = Math.max(den, Math.abs(Number(y[i])));
  }
  c.dispose();
  ref.dispose();
  return num / den;
}

function timeKiln(a: Tensor, b: Tensor, reps: number): number[] {
  const ms: number[] = [];
  for (let i = 0; i < 2; i++) matmul(a, b).dispose();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const c = matmul(a, b);
    ms.push(performance.now() - t0);
    c.dispose();
  }
  return ms;
}

interface Row {
  c: Case;
  threads: number;
  ms: Map<string, number[] | string>;
}

async function main(): Promise<void> {
  const info = cpuInfo();
  log(`Kiln CPU: ${info.isa}, GEMM ${info.gemm}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const servers = new Map<number, CpuOpsServer | null>();
  for (const t of threadCounts) servers.set(t, await CpuOpsServer.start(t, log));
  const first = [...servers.values()].find((s) => s);
  if (first) log(`numpy ${first.info.numpy ?? '-'}, PyTorch ${first.info.torch ?? '-'}`);
  const libs = ['kiln', ...(first?.info.numpy ? ['numpy'] : []), ...(first?.info.torch ? ['torch'] : [])];
  const rows: Row[] = [];
  const defaultThreads = cpuThreads();
  for (const c of cases()) {
    const [B, M, K, N] = c.shape;
    const a = randn(B === 1 ? [M, K] : [B, M, K], { dtype: c.dtype, seed: 1 });
    const b = randn(B === 1 ? [K, N] : [B, K, N], { dtype: c.dtype, seed: 2 });
    const err = checkAgainstFloat64(a, b);
    const tol = c.dtype === 'float64' ? 1e-12 : 1e-5;
    if (!(err <= tol)) throw new Error(`${c.name} ${c.dtype}: Kiln's product is off by ${err} (relative) against float64`);
    const flops = 2 * B * M * N * K;
    const reps = Math.max(3, Math.min(200, Math.round(30e-3 / (flops / 60e9))));   // ~30 ms a batch at 60 GFLOP/s
    for (const t of threadCounts) {
      const server = servers.get(t) ?? null;
      const ms = new Map<string, number[] | string>(libs.map((l) => [l, []]));
      for (let r = 0; r < rounds; r++) {
        cpuThreads(t);
        (ms.get('kiln') as number[]).push(...timeKiln(a, b, reps));
        for (const lib of libs.slice(1)) {
          const got = await server!.time({ op: 'matmul', lib, shape: c.shape, dtype: c.dtype, reps });
          const acc = ms.get(lib)!;
          if (typeof got === 'string') ms.set(lib, got);
          else if (typeof acc !== 'string') acc.push(...got);
        }
      }
      rows.push({ c, threads: t, ms });
      log(`  ${c.name} ${c.dtype}, ${t} thread(s): ${libs.map((l) => `${l} ${cell(ms.get(l)!, flops)}`).join(' | ')}  (load ${loadavg()[0].toFixed(2)})`);
    }
    a.dispose();
    b.dispose();
  }
  cpuThreads(defaultThreads);
  for (const s of servers.values()) s?.close();

  const head = `| product [batch ×] M×K · K×N | dtype | threads | ${libs.map((l) => `${l} ms min / median (GFLOP/s at min)`).join(' | ')} | Kiln / numpy (median) |`;
  const lines = [head, `|---|---|---:|${libs.map(() => '---:|').join('')}---:|`];
  for (const r of rows) {
    const [B, M, K, N] = r.c.shape;
    const flops = 2 * B * M * N * K;
    const k = r.ms.get('kiln'), np = r.ms.get('numpy');
    const ratio = Array.isArray(k) && Array.isArray(np) ? (median(k) / median(np)).toFixed(2) : '-';
    lines.push(`| ${r.c.name} (${B > 1 ? `${B} × ` : ''}${M}×${K} · ${K}×${N}) | ${r.c.dtype} | ${r.threads} | ${libs.map((l) => cell(r.ms.get(l)!, flops)).join(' | ')} | ${ratio} |`);
  }
  const table = `${lines.join('\n')}\n\nKiln ${info.isa} (${info.gemm}); load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`;
  log(`\n${table}`);
  if (outFile) writeFileSync(outFile, table);
}

function cell(ms: number[] | string, flops: number): string {
  if (typeof ms === 'string') return ms;
  const mn = Math.min(...ms);
  return `${fmt(mn)} / ${fmt(median(ms))} (${(flops / (mn * 1e-3) / 1e9).toFixed(0)})`;
}

const fmt = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(2));

await main();
