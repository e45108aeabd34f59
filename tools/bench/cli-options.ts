/** Command-line options of the benchmark scripts: `--name value` pairs and `--flag`s. */

/** The value after `--name` in argv, or `fallback` when the option is absent. */
export function optionValue(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : fallback;
}
