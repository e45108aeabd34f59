/**
 * `Matcher`: torchvision's assignment of each anchor (or proposal) to the ground-truth box it
 * overlaps most, with IoU thresholds, computed on the IoU matrix's device.
 */
import { type Tensor, DTypeError, ShapeError, ValueError, amax, checkBoolean, commonDevice, fmtShape, isFloating, max, sameShape, tidy, where } from '@kiln/tensor';

/**
 * For an IoU matrix [M ground truths, N anchors], each anchor's ground-truth index (int64 [N]), or
 * `Matcher.BELOW_LOW_THRESHOLD` (-1) where its best IoU is below `lowThreshold`, or
 * `Matcher.BETWEEN_THRESHOLDS` (-2) where it is in [low, high). Ties go to the first ground truth.
 * With `allowLowQualityMatches`, an anchor that is the best (or tied best) for some ground truth
 * keeps its match even below the thresholds (Faster R-CNN's rule; torchvision's, including that a
 * ground truth overlapping nothing makes every anchor "best" for it).
 *
 * @example
 * ```ts
 * const matcher = new Matcher(0.5, 0.4, true);       // RetinaNet's thresholds
 * const matched = matcher.call(boxIou(gtBoxes, anchors));
 * const foreground = matched.ge(0);                  // -1 background, -2 ignored
 * ```
 */
export class Matcher {
  /** The value of an anchor whose best IoU is below the low threshold. */
  static readonly BELOW_LOW_THRESHOLD = -1;
  /** The value of an anchor whose best IoU is between the thresholds. */
  static readonly BETWEEN_THRESHOLDS = -2;

  /** IoU at or above which an anchor is matched. */
  readonly highThreshold: number;
  /** IoU below which an anchor is background (-1); between the two it is ignored (-2). */
  readonly lowThreshold: number;
  /** Keep each ground truth's best anchors matched whatever their IoU. */
  readonly allowLowQualityMatches: boolean;

  /** The thresholds, `lowThreshold <= highThreshold`. */
  constructor(highThreshold: number, lowThreshold: number, allowLowQualityMatches = false) {
    this.highThreshold = highThreshold;
    this.lowThreshold = lowThreshold;
    this.allowLowQualityMatches = checkBoolean('Matcher', 'allowLowQualityMatches', allowLowQualityMatches);
    for (const [arg, v] of [['highThreshold', highThreshold], ['lowThreshold', lowThreshold]] as const) {
      if (typeof v !== 'number' || Number.isNaN(v)) throw new ValueError('Matcher', arg, 'a number', String(v));
    }
    if (lowThreshold > highThreshold) throw new ValueError('Matcher', 'lowThreshold', `at most highThreshold (${highThreshold})`, String(lowThreshold));
  }

  /**
   * Matches the anchors (columns) of `matchQualityMatrix` [M, N] to ground truths (rows).
   *
   * @example
   * ```ts
   * const m = new Matcher(0.5, 0.4).call(tensor([[0.9, 0.45, 0.1]]));   // [0, -2, -1]
   * ```
   */
  call(matchQualityMatrix: Tensor): Tensor {
    const op = 'Matcher', q = matchQualityMatrix;
    if (q.ndim !== 2) throw new ShapeError(op, 'matchQualityMatrix', 'a matrix [M ground truths, N anchors]', `[${q.shape.join(', ')}]`);
    if (!isFloating(q.dtype)) throw new DTypeError(op, 'matchQualityMatrix', 'a floating dtype', q.dtype);
    // torchvision's two messages: a training image needs ground truths, and there must be anchors
    if (q.shape[0] === 0) throw new ValueError(op, 'matchQualityMatrix', 'ground-truth boxes (M > 0) for the image', `[${q.shape.join(', ')}]`);
    if (q.shape[1] === 0) throw new ValueError(op, 'matchQualityMatrix', 'proposal or anchor boxes (N > 0) for the image', `[${q.shape.join(', ')}]`);
    return tidy(() => this.assign(q, null));
  }

  /**
   * {@link call} for a batch of images at once: `matchQualityMatrix` [B, M, N] holds each image's
   * quality matrix with its ground truths padded to a common M, and `validRows` [B, M] (bool)
   * says which rows are real. Returns [B, N]: row b is `call` of image b's real rows (an image
   * without ground truths is all BELOW_LOW_THRESHOLD, its anchors background).
   *
   * @example
   * ```ts
   * const q = tensor([[[0.9, 0.45, 0.1], [0, 0, 0]], [[0.2, 0.6, 0.3], [0, 0, 0]]]);
   * new Matcher(0.5, 0.4).callBatched(q, tensor([[true, false], [true, false]]));   // [[0, -2, -1], [-1, 0, -1]]
   * ```
   */
  callBatched(matchQualityMatrix: Tensor, validRows: Tensor): Tensor {
    const op = 'Matcher.callBatched', q = matchQualityMatrix;
    if (q.ndim !== 3 || q.shape[1] === 0 || q.shape[2] === 0) throw new ShapeError(op, 'matchQualityMatrix', 'a batch of matrices [B, M > 0 ground-truth rows, N > 0 anchors]', fmtShape(q.shape));
    if (!isFloating(q.dtype)) throw new DTypeError(op, 'matchQualityMatrix', 'a floating dtype', q.dtype);
    if (validRows.dtype !== 'bool' || !sameShape(validRows.shape, q.shape.slice(0, 2))) {
      throw new ShapeError(op, 'validRows', `a bool mask [${q.shape[0]}, ${q.shape[1]}] (one per ground-truth row)`, `${validRows.dtype} ${fmtShape(validRows.shape)}`);
    }
    commonDevice(op, ['matchQualityMatrix', 'validRows'], [q, validRows]);
    return tidy(() => this.assign(q, validRows));
  }

  /**
   * The assignment over the rows (dim -2) of q [..., M, N]; rows where `valid` [..., M] is false
   * take no part (their quality counts as -inf, and they have no best anchors).
   */
  private assign(q: Tensor, valid: Tensor | null): Tensor {
    const quality = valid ? where(valid.unsqueeze(-1), q, -Infinity) : q;
    const { values, indices } = max(quality, -2);
    const below = values.lt(this.lowThreshold);
    const between = values.ge(this.lowThreshold).logicalAnd(values.lt(this.highThreshold));
    const matches = where(below, Matcher.BELOW_LOW_THRESHOLD, where(between, Matcher.BETWEEN_THRESHOLDS, indices));
    if (!this.allowLowQualityMatches) return matches;
    // an anchor keeps its best ground truth if it is the (tied) best anchor of any ground truth
    let best = quality.eq(amax(quality, -1, true));
    if (valid) best = best.logicalAnd(valid.unsqueeze(-1));
    return where(best.any(-2), indices, matches);
  }
}
