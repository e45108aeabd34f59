/**
 * A strict JSON parser for headers read from files (safetensors): the JSON grammar of RFC 8259, and
 * on top of it what JSON.parse lets through silently: a key given twice in one object (JSON.parse
 * keeps the last, so two readers of one file could disagree on what it holds), nesting deeper than
 * `maxDepth` (a header is three levels deep; deep nesting only exhausts the stack), and keys that
 * reach an object's prototype when assigned (`__proto__`). Objects come back with a null prototype,
 * so no key of a file can shadow or reach Object.prototype.
 */

/** Thrown for text that is not the strict JSON this module accepts; the message says where and why. */
export class StrictJsonError extends Error {}

/** A JSON value as parsed: objects have a null prototype. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Keys refused in any object: assigning them to a plain object reaches its prototype. */
const FORBIDDEN_KEYS = new Set(['__proto__']);

/** Parses `text` as strict JSON (see the module's comment). */
export function parseStrictJson(text: string, maxDepth = 16): JsonValue {
  let i = 0;
  const fail = (why: string): never => {
    throw new StrictJsonError(`${why} at character ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const literal = (word: string, value: JsonValue): JsonValue => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail('an unexpected token');
  };
  const string = (): string => {
    // from the opening quote; JSON.parse decodes the escapes of the exact slice
    const start = i++;
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail('a control character in a string');
      i += text[i] === '\\' ? 2 : 1;
    }
    if (i >= text.length) fail('an unterminated string');
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('an invalid escape in a string');
    }
  };
  const number = (): number => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('an unexpected token');
    i += m[0].length;
    return Number(m[0]);
  };
  const value = (depth: number): JsonValue => {
    if (depth > maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: { [key: string]: JsonValue } = Object.create(null) as { [key: string]: JsonValue };
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a key (a string)');
        const key = string();
        if (FORBIDDEN_KEYS.has(key)) fail(`the key ${JSON.stringify(key)}, which would reach the object's prototype`);
        if (Object.prototype.hasOwnProperty.call(out, key)) fail(`the key ${JSON.stringify(key)} given twice in one object`);
        ws();
        if (text[i] !== ':') fail("':' after a key");
        i++;
        out[key] = value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        fail("',' or '}' in an object");
      }
    }
    if (c === '[') {
      i++;
      const out: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        fail("',' or ']' in an array");
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    return number();
  };
  const result = value(1);
  ws();
  if (i !== text.length) fail('text after the JSON value');
  return result;
}
