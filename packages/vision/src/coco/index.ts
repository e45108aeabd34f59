export * from './types.js';
export { Coco, type CocoAnnotationFilter } from './coco.js';
export { CocoEval, type SummarizeOptions, type CocoCategorySummary } from './coco-eval.js';
export type { CocoEvalParams } from './params.js';
export type { ImageEvaluation } from './match.js';
export type { CocoAccumulation } from './accumulate.js';
export { type CocoMetrics, type CocoSummary, cocoMetricNames } from './summarize.js';
export {
  detectionsToCocoResults, evaluateCoco, type ImageDetections, type ToCocoResultsOptions, type EvaluateCocoOptions, type CocoEvaluationResult,
} from './evaluate-detections.js';
