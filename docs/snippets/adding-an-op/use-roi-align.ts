import assert from 'node:assert/strict';
import { randn, tensor, type Tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { nms, roiAlign } from '@kiln/vision';

// A domain package's op, used like any other: RoI Align over a feature map of stride 8.
const features = randn([2, 4, 16, 16], { dtype: 'float64', seed: 3 }).requiresGrad_();
const rois = tensor([[0, 8, 8, 64, 40], [1, 0, 0, 127, 127]], { dtype: 'float64' });   // batch index, x1, y1, x2, y2
const pooled = roiAlign(features, rois, { outputSize: 7, spatialScale: 1 / 8, samplingRatio: 2 });
assert.deepEqual(pooled.shape, [2, 4, 7, 7]);

// Its gradient comes from its own backward kernel, checked against finite differences.
pooled.sum().backward();
assert.deepEqual(features.grad!.shape, [2, 4, 16, 16]);
const small = randn([1, 1, 5, 5], { dtype: 'float64', seed: 4 }).requiresGrad_();
const box = tensor([[0, 0.3, 0.6, 3.2, 3.7]], { dtype: 'float64' });
assert.equal(gradcheck((x: Tensor) => roiAlign(x, box, { outputSize: 2, samplingRatio: 2 }), [small]), true);

// NMS keeps box 0 and drops box 1 (IoU 0.68 with box 0); box 2 does not overlap.
const boxes = tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], { dtype: 'float32' });
assert.deepEqual(nms(boxes, tensor([0.9, 0.8, 0.7]), 0.5).toArray(), [0, 2]);
console.log('roiAlign:', pooled.shape, 'nms kept', nms(boxes, tensor([0.9, 0.8, 0.7]), 0.5).toArray());
