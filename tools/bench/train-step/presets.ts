/**
 * The training setups the benchmark times: the example's former presets (settings.ts) and
 * RetinaNet's real width (batch 8, 512 x 512, width 256, strides 8-128, 4-conv subnets, 9 anchors
 * per position: 49,104 anchors per image).
 */
import { PRESETS, type Settings } from './settings.js';
import { makeAnchors } from './anchors.js';

export const PRESET_NAMES = ['fast', 'cpu', 'cuda', 'real'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** The settings of a preset on `device`. */
export function presetSettings(name: PresetName, device: string): Settings {
  let s: Settings;
  if (name === 'real') {
    s = PRESETS.cuda();
    const strides = [8, 16, 32, 64, 128];
    s.batchSize = 8;
    s.scenes = { ...s.scenes, imageSize: 512 };
    s.anchors = { ...s.anchors, strides };
    s.model = { ...s.model, width: 256, headDepth: 4, strides };
  } else {
    s = PRESETS[name]();
  }
  s.device = device;
  return s;
}

/** One line that says what a preset trains: batch, image size, width, depth, anchors per image. */
export function describePreset(name: PresetName, s: Settings): string {
  const anchors = makeAnchors(s.scenes.imageSize, s.anchors).count;
  return `${name}: batch ${s.batchSize}, 1×${s.scenes.imageSize}×${s.scenes.imageSize}, width ${s.model.width}, ` +
    `${s.model.headDepth}-conv subnets, strides ${s.model.strides.join('-')}, ${anchors.toLocaleString('en-US')} anchors/image`;
}
