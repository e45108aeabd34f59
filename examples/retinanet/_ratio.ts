import { makeAnchors, assignTargets, RETINANET_ANCHORS } from './anchors.js';
import { makeScenes } from './data.js';
for (const [S, strides, sf, maxO] of [[32,[2,4],2,3],[32,[2,4],2,2],[48,[4,8],2,3],[64,[4,8],2,2],[128,[4,8,16],2,8],[128,[8,16],2,6],[96,[4,8,16],2,6]] as [number, number[], number, number][]) {
  const anchors = makeAnchors(S, { ...RETINANET_ANCHORS, strides, sizeFactor: sf });
  const scenes = makeScenes(1, 0, 200, { imageSize: S, minObjects: 1, maxObjects: maxO });
  const t = assignTargets(anchors, scenes.map((s) => s.objects));
  const objs = scenes.reduce((n, s) => n + s.objects.length, 0);
  console.log(`S ${S} strides ${strides} sf ${sf} maxObj ${maxO}: anchors ${anchors.count}, pos/obj ${(t.positives/objs).toFixed(1)}, pos/img ${(t.positives/200).toFixed(1)}, neg:pos ${(t.negatives/t.positives).toFixed(0)}, elem ${( (t.negatives*3 + t.positives*2)/t.positives).toFixed(0)}`);
}
