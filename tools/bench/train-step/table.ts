/**
 * Kiln's step times and the twin's (tools/bench/retinanet_twin.py --json) as one Markdown table:
 * per preset and precision, Kiln against PyTorch eager and torch.compile, host wall time per step
 * (the step ends with the losses read back) and, on CUDA, the device time between events around it.
 */

/** One Kiln measurement. */
export interface KilnRow {
  preset: string;
  precision: string;
  /** CPU threads (null on CUDA) */
  threads: number | null;
  wallMs: number | null;
  deviceMs: number | null;
}

/** What retinanet_twin.py writes with --json. */
export interface TwinResults {
  torch: string;
  device: string;
  gpu: string | null;
  defaultThreads: number;
  checks: { preset: string; relErrCls?: number; relErrBox?: number; ok: boolean | null; torchCls: number; torchBox: number; kilnCls?: number; kilnBox?: number }[];
  results: { preset: string; mode: string; precision: string; threads: number | null; stepMs: number; minMs: number; deviceMs: number | null; firstStepS: number; optimizer: string }[];
  notes: string[];
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(v >= 100 ? 1 : 2));
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `${(a / b).toFixed(2)}×` : '–');

/** The combined table with a header that says what was measured and how. */
export function combinedTable(kilnRows: readonly KilnRow[], twin: TwinResults | null, context: { title: string; presets: string[]; twinMissing?: string }): string {
  const torchRow = (preset: string, mode: string, precision: string, threads: number | null) =>
    twin?.results.find((r) => r.preset === preset && r.mode === mode && r.precision === precision && (threads === null || r.threads === threads));
  const lines = [
    context.title,
    ...context.presets.map((p) => `- ${p}`),
    twin ? `- PyTorch ${twin.torch} on ${twin.gpu ?? twin.device} (Adam: ${twin.results[0]?.optimizer ?? '?'}; float32 = TF32 off)` : `- PyTorch: ${context.twinMissing ?? 'not run'}`,
    ...(twin?.notes ?? []).map((n) => `- ${n}`),
    '',
    '| preset | precision | threads | Kiln ms | Kiln device ms | torch eager ms | eager device ms | torch.compile ms | compile device ms | Kiln / eager | Kiln / compile |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const keys = new Set<string>();
  const order: [string, string, number | null][] = [];
  const addKey = (preset: string, precision: string, threads: number | null) => {
    const k = `${preset}|${precision}|${String(threads)}`;
    if (!keys.has(k)) {
      keys.add(k);
      order.push([preset, precision, threads]);
    }
  };
  for (const r of kilnRows) addKey(r.preset, r.precision, r.threads);
  for (const r of twin?.results ?? []) addKey(r.preset, r.precision, r.threads);
  for (const [preset, precision, threads] of order) {
    const k = kilnRows.find((r) => r.preset === preset && r.precision === precision && r.threads === threads);
    const eager = torchRow(preset, 'eager', precision, threads), comp = torchRow(preset, 'compile', precision, threads);
    const kilnMs = k?.wallMs ?? null;
    lines.push(`| ${preset} | ${precision} | ${threads ?? '–'} | ${ms(kilnMs)} | ${ms(k?.deviceMs)} | ${ms(eager?.stepMs)} | ${ms(eager?.deviceMs)} | ` +
      `${ms(comp?.stepMs)} | ${ms(comp?.deviceMs)} | ${ratio(kilnMs, eager?.stepMs)} | ${ratio(kilnMs, comp?.stepMs)} |`);
  }
  if (twin?.checks.length) {
    lines.push('', 'Same model, same batch: losses at the initial weights in float32 (the twin loads Kiln\'s weights and batch and checks before timing):', '');
    for (const c of twin.checks) {
      lines.push(c.ok === null
        ? `- ${c.preset}: not compared (no Kiln losses)`
        : `- ${c.preset}: classification ${c.kilnCls!.toPrecision(7)} (Kiln) vs ${c.torchCls.toPrecision(7)} (PyTorch), box ${c.kilnBox!.toPrecision(7)} vs ${c.torchBox.toPrecision(7)}; ` +
          `relative difference ${c.relErrCls!.toExponential(1)} / ${c.relErrBox!.toExponential(1)} ${c.ok ? 'ok' : 'MISMATCH'}`);
    }
  }
  const compiles = (twin?.results ?? []).filter((r) => r.mode === 'compile');
  if (compiles.length) lines.push('', `torch.compile's first step (compilation): ${compiles.map((r) => `${r.preset} ${r.precision} ${r.firstStepS.toFixed(0)} s`).join(', ')}`);
  return lines.join('\n');
}
