/**
 * The torchvision fixtures (tools/reference/make_vision_fixtures.py writes fixtures/*.json on the
 * CPU; make_vision_cuda_fixtures.py writes fixtures/cuda.json on the GPU machine): loading them,
 * running a case through Kiln, and comparing with what torchvision computed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { type DType, type Tensor, tensor } from '@kiln/tensor';
import '@kiln/autograd';
import { expectClose, toNumbers } from '@kiln/tensor/testing';
import {
  BoxCoder, type BoxFormat, MultiScaleRoIAlign, batchedNms, boxArea, boxConvert, boxIou, clipBoxesToImage, completeBoxIou, distanceBoxIou,
  generalizedBoxIou, nms, removeSmallBoxes, roiAlign, roiPool,
} from '@kiln/vision';

interface TensorJson {
  shape: number[];
  dtype: DType;
  data: (number | boolean)[];
}

/**
 * The options of the fixtures' ops as make_vision_fixtures.py writes them; a case holds those its op
 * takes (runCase reads only those).
 */
interface FixtureOptions {
  iouThreshold: number;
  outputSize: number | [number, number];
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
  inFmt: BoxFormat;
  outFmt: BoxFormat;
  size: [number, number];
  minSize: number;
  weights: [number, number, number, number];
  featmapNames: string[];
  canonicalScale: number;
  canonicalLevel: number;
  imageShapes: [number, number][];
}

/** One case: an op of torchvision.ops, its options and inputs, and torchvision's results. */
export interface FixtureCase {
  name: string;
  op: string;
  options: FixtureOptions;
  inputs: Record<string, TensorJson>;
  expected: Record<string, TensorJson>;
}

interface FixtureFile {
  torch: string;
  torchvision: string;
  device: string;
  cases: FixtureCase[];
}

const dir = new URL('./fixtures/', import.meta.url);

/** The cases of a fixture file (null when the file is absent: cuda.json comes from the GPU machine). */
export function loadFixtures(file: string): FixtureFile | null {
  const url = new URL(file, dir);
  return existsSync(url) ? (JSON.parse(readFileSync(url, 'utf8')) as FixtureFile) : null;
}

export function fromJson(t: TensorJson, dev: string, requiresGrad = false): Tensor {
  const x = tensor(t.data, { dtype: t.dtype, device: dev }).reshape(t.shape);
  return requiresGrad ? x.requiresGrad_() : x;
}

/** Runs a case through Kiln on `dev`: the results under the names of `expected`. */
export function runCase(c: FixtureCase, dev: string): Record<string, Tensor> {
  const input = (name: string, grad = false): Tensor => fromJson(c.inputs[name], dev, grad);
  const o = c.options;
  switch (c.op) {
    case 'nms':
      return { keep: nms(input('boxes'), input('scores'), o.iouThreshold) };
    case 'batched_nms':
      return { keep: batchedNms(input('boxes'), input('scores'), input('idxs'), o.iouThreshold) };
    case 'roi_align':
    case 'roi_pool': {
      const x = input('input', true);
      const options = { outputSize: o.outputSize, spatialScale: o.spatialScale, samplingRatio: o.samplingRatio, aligned: o.aligned };
      const y = c.op === 'roi_align' ? roiAlign(x, input('rois'), options) : roiPool(x, input('rois'), options);
      y.mul(input('gradOutput')).sum().backward();
      return { output: y, gradInput: x.grad! };
    }
    case 'box_iou':
    case 'generalized_box_iou':
    case 'distance_box_iou':
    case 'complete_box_iou': {
      const f = { box_iou: boxIou, generalized_box_iou: generalizedBoxIou, distance_box_iou: distanceBoxIou, complete_box_iou: completeBoxIou }[c.op];
      const withGrad = 'gradOutput' in c.inputs;
      const a = input('boxes1', withGrad), b = input('boxes2', withGrad);
      const y = f(a, b);
      if (!withGrad) return { output: y };
      y.mul(input('gradOutput')).sum().backward();
      return { output: y, gradBoxes1: a.grad!, gradBoxes2: b.grad! };
    }
    case 'box_area':
      return { output: boxArea(input('boxes')) };
    case 'box_convert':
      return { output: boxConvert(input('boxes'), o.inFmt, o.outFmt) };
    case 'clip_boxes_to_image':
      return { output: clipBoxesToImage(input('boxes'), o.size) };
    case 'remove_small_boxes':
      return { keep: removeSmallBoxes(input('boxes'), o.minSize) };
    case 'box_coder': {
      const coder = new BoxCoder(o.weights);
      return { encoded: coder.encodeSingle(input('referenceBoxes'), input('proposals')), decoded: coder.decodeSingle(input('relCodes'), input('proposals')) };
    }
    case 'multi_scale_roi_align': {
      const names = o.featmapNames;
      const features = Object.fromEntries(names.map((n) => [n, input(n, true)]));
      const pooler = new MultiScaleRoIAlign({ featmapNames: names, outputSize: o.outputSize, samplingRatio: o.samplingRatio, canonicalScale: o.canonicalScale, canonicalLevel: o.canonicalLevel });
      const y = pooler.call(features, [input('boxes0'), input('boxes1')], o.imageShapes);
      y.sum().backward();
      return { output: y, ...Object.fromEntries(names.map((n) => [`grad_${n}`, features[n].grad!])) };
    }
    default:
      throw new Error(`unknown fixture op ${c.op}`);
  }
}

/** Tolerances against torchvision: exact for indices; float32 to a few ulps; float64 to rounding. */
function toleranceOf(c: FixtureCase, key: string): { rtol: number; atol: number } {
  const dtype = c.expected[key].dtype;
  if (dtype === 'int64' || dtype === 'bool') return { rtol: 0, atol: 0 };
  return dtype === 'float32' ? { rtol: 2e-5, atol: 2e-5 } : { rtol: 1e-10, atol: 1e-11 };
}

/** Runs a case and compares every result with torchvision's. */
export function checkCase(c: FixtureCase, dev: string): void {
  const got = runCase(c, dev);
  for (const [key, want] of Object.entries(c.expected)) {
    const g = got[key];
    expect(g, `${c.name}: ${key}`).toBeDefined();
    expect(g.shape, `${c.name}: ${key} shape`).toEqual(want.shape);
    const tol = toleranceOf(c, key);
    if (tol.rtol === 0) expect(toNumbers(g.toTypedArray()), `${c.name}: ${key}`).toEqual(want.data.map(Number));
    else expectClose(g, want.data.map(Number), { ...tol, what: `${c.name}: ${key}` });
  }
}
