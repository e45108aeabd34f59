/**
 * Self and inclusive time per function of a V8 CPU profile (what `node --cpu-prof` writes, or the
 * inspector's Profiler.stop returns), shared by cpu-profile-summary.ts and profile-host.ts.
 */

/** One node of the profile's call tree. */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A V8 CPU profile: its call tree and, per sample, the node running and the time since the last sample (µs). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A function's name as the tables print it: name, the last two parts of its file, its line. */
export const frameName = (f: ProfileNode['callFrame']): string =>
  `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;

/** µs per function: as the sample's leaf (self), anywhere on its stack (inclusive), and the total. */
export interface ProfileTimes {
  self: Map<string, number>;
  inclusive: Map<string, number>;
  total: number;
}

/**
 * The profile's times per function; with `under`, only the samples with a function of that name on
 * the stack count.
 */
export function profileTimes(profile: CpuProfile, under = ''): ProfileTimes {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the gap before sample i: the time until the next sample is sample i's (as
    // DevTools counts it; the last sample gets none)
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const stack: ProfileNode['callFrame'][] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) stack.push(byId.get(n)!.callFrame);
    if (under && !stack.some((f) => f.functionName === under)) return;
    total += dt;
    const leaf = frameName(stack[0]);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    // inclusive: every distinct function on this sample's stack, once (recursion counted once)
    for (const name of new Set(stack.map(frameName))) inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  });
  return { self, inclusive, total };
}
