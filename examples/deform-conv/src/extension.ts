/**
 * Loads the extension library (build/kiln_deform_conv.so, built by `npm run build` in this package)
 * when the package is imported: its CPU kernels, and its CUDA kernels where the library has them
 * and a GPU is registered (now, or later when `@kiln/cuda` is imported).
 */
import { type ExtensionInfo, loadExtension } from '@kiln/tensor';

/** What was loaded: the kernels by device, and the devices skipped with the reason. */
// ANCHOR: load (quoted in docs/writing-an-extension.md)
export const extension: ExtensionInfo = loadExtension(new URL('../build/kiln_deform_conv.so', import.meta.url));
// ANCHOR_END: load
