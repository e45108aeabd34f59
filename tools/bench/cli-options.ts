/**
 * Command-line options of the benchmark scripts, read strictly with node:util's parseArgs (as
 * examples/retinanet/main.ts does): an unknown flag, a missing value or a value that is not of the
 * option's kind is an error that lists the options, never a silent default or a NaN.
 *
 * ```ts
 * const args = parseOptions(process.argv.slice(2), {
 *   reps: { type: 'number', default: '9' },
 *   sizes: { type: 'numbers', default: '20000,200000' },
 *   out: { type: 'string', default: '' },
 *   'no-big': { type: 'boolean' },
 * });
 * args.reps;      // number
 * args.sizes;     // number[]
 * ```
 */
import { parseArgs } from 'node:util';

/** How an option's value reads: text, a number, comma-separated numbers or texts, or a flag. */
export type OptionKind = 'string' | 'number' | 'numbers' | 'strings' | 'boolean';

/** One option: its kind and, for options with a value, the default as it would be written on the command line. */
export interface OptionSpec {
  type: OptionKind;
  default?: string;
}

type ValueOf<K extends OptionKind> =
  K extends 'number' ? number : K extends 'numbers' ? number[] : K extends 'strings' ? string[] : K extends 'boolean' ? boolean : string;

/** The parsed options: each typed by its kind (a flag is false when absent). */
export type Options<S extends Record<string, OptionSpec>> = { [K in keyof S]: ValueOf<S[K]['type']> };

/** Parses `argv` against `specs`; throws an Error naming the option and listing them all on bad input. */
export function parseOptions<S extends Record<string, OptionSpec>>(argv: readonly string[], specs: S): Options<S> {
  const usage = () => `options: ${Object.entries(specs).map(([name, s]) => describe(name, s)).join(', ')}`;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.keys(specs).map((name) => [name, { type: specs[name].type === 'boolean' ? 'boolean' : 'string' }] as const)),
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${usage()}`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = values[name];
    if (spec.type === 'boolean') {
      out[name] = given === true;
      continue;
    }
    const text = (given as string | undefined) ?? spec.default;
    if (text === undefined) throw new Error(`--${name} is required; ${usage()}`);
    out[name] = convert(name, spec.type, text, usage);
  }
  return out as Options<S>;
}

function convert(name: string, kind: OptionKind, text: string, usage: () => string): unknown {
  const number = (s: string): number => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name}: expected a number, got '${s}'; ${usage()}`);
    return n;
  };
  switch (kind) {
    case 'number': return number(text);
    case 'numbers': return text === '' ? [] : text.split(',').map(number);
    case 'strings': return text === '' ? [] : text.split(',');
    default: return text;
  }
}

function describe(name: string, s: OptionSpec): string {
  if (s.type === 'boolean') return `--${name}`;
  return `--${name} <${s.type}>${s.default === undefined ? '' : ` (default '${s.default}')`}`;
}
