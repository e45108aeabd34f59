#!/usr/bin/env node
// What a built addon needs and carries, for the release checks (tools/release/stage.mjs) and for
// reading by hand:
//
//   node tools/release/addon-facts.mjs native/build/Release/*.node
//
// For every file: its size, the shared libraries it loads (DT_NEEDED) and the newest glibc and
// libstdc++ symbol versions it binds to (the oldest system it loads on), read with binutils'
// readelf; for a CUDA addon, the GPU code in its fat binaries: machine code (ELF) per sm_XY and
// PTX per compute_XY, read from the .nv_fatbin containers (no CUDA tool needed).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

// A fat binary container (one per compiled .cu file, concatenated in .nv_fatbin): a 16-byte header
// (magic 0xBA55ED50, version 1, header size 16, u64 size of what follows), then entries, each a
// header (u16 kind: 1 PTX, 2 ELF; u32 header size at 4; u64 padded payload size at 8; u32 SM
// version at 28, e.g. 90) followed by its payload. Layout as documented by the open fatbin readers
// (ZLUDA, cuda-fatbin-decompression); containers start 8-byte aligned.
const FATBIN_MAGIC = 0xba55ed50;
const KIND = { 1: 'ptx', 2: 'elf' };

/**
 * GPU code in an addon: sorted SM versions with machine code, and with PTX; the number of
 * containers; the bytes each kind of code takes in the file (payloads as stored, compressed or
 * not), by name ('sm_90', 'compute_75').
 */
export function cudaArchitectures(buf) {
  const elf = new Set(), ptx = new Set();
  const bytes = {};
  let containers = 0;
  for (let at = 0; at + 16 <= buf.length; at += 8) {
    if (buf.readUInt32LE(at) !== FATBIN_MAGIC || buf.readUInt16LE(at + 4) !== 1 || buf.readUInt16LE(at + 6) !== 16) continue;
    const end = at + 16 + Number(buf.readBigUInt64LE(at + 8));
    if (end > buf.length) continue;
    containers++;
    for (let e = at + 16; e + 64 <= end;) {
      const headerSize = buf.readUInt32LE(e + 4);
      if (headerSize < 64) break;
      const kind = KIND[buf.readUInt16LE(e)];
      const sm = buf.readUInt32LE(e + 28);
      const payload = Number(buf.readBigUInt64LE(e + 8));
      if (kind === 'elf') elf.add(sm);
      else if (kind === 'ptx') ptx.add(sm);
      if (kind) bytes[`${kind === 'elf' ? 'sm' : 'compute'}_${sm}`] = (bytes[`${kind === 'elf' ? 'sm' : 'compute'}_${sm}`] ?? 0) + payload;
      e += headerSize + payload;
    }
    at = Math.ceil(end / 8) * 8 - 8;  // the next container starts at the first 8-aligned offset past this one
  }
  const sorted = (s) => [...s].sort((a, b) => a - b);
  return { elf: sorted(elf), ptx: sorted(ptx), containers, bytes };
}

/** Newest version of `prefix` (GLIBC, GLIBCXX) among `versions`, e.g. '2.35'. */
function newest(versions, prefix) {
  const found = versions.filter((v) => v.startsWith(`${prefix}_`)).map((v) => v.slice(prefix.length + 1));
  const key = (v) => v.split('.').map((n) => n.padStart(4, '0')).join('.');
  return found.sort((a, b) => (key(a) < key(b) ? -1 : 1)).at(-1) ?? null;
}

/** Shared libraries an ELF file loads and the newest glibc / libstdc++ symbol versions it needs (readelf). */
export function elfNeeds(path) {
  const dynamic = execFileSync('readelf', ['-d', '-W', path], { encoding: 'utf8' });
  const libraries = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const versionInfo = execFileSync('readelf', ['-V', '-W', path], { encoding: 'utf8' });
  const versions = [...versionInfo.matchAll(/Name: ((?:GLIBC|GLIBCXX|CXXABI)_[0-9.]+)/g)].map((m) => m[1]);
  return { libraries, glibc: newest(versions, 'GLIBC'), glibcxx: newest(versions, 'GLIBCXX') };
}

/** Every fact above for one addon file. */
export function addonFacts(path) {
  const buf = readFileSync(path);
  const facts = { file: basename(path), bytes: statSync(path).size, ...elfNeeds(path) };
  const cuda = cudaArchitectures(buf);
  return cuda.containers > 0 ? { ...facts, cuda } : facts;
}

/** One line per fact, for logs. */
export function describeFacts(f) {
  const lines = [
    `${f.file}: ${(f.bytes / 2 ** 20).toFixed(1)} MiB`,
    `  loads: ${f.libraries.join(' ')}`,
    `  needs: glibc >= ${f.glibc ?? '?'}${f.glibcxx ? `, libstdc++ >= GLIBCXX_${f.glibcxx}` : ''}`,
  ];
  if (f.cuda) {
    lines.push(`  GPU code: sm_${f.cuda.elf.join(', sm_') || '(none)'} machine code; compute_${f.cuda.ptx.join(', compute_') || '(none)'} PTX` +
      ` (${f.cuda.containers} fat binaries)`);
    const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
    const gpu = Object.values(f.cuda.bytes).reduce((a, b) => a + b, 0);
    lines.push(`  sizes: ${Object.entries(f.cuda.bytes).map(([k, n]) => `${k} ${mib(n)}`).join(', ')}; the rest ${mib(f.bytes - gpu)}`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node tools/release/addon-facts.mjs ADDON.node...');
    process.exit(2);
  }
  for (const f of files) console.log(describeFacts(addonFacts(f)));
}
