/**
 * The look shared by every picture of the example: the fonts, the colours of series and classes,
 * and the Vega-Lite config that applies them to the charts.
 */
import type { Config } from 'vega-lite';

/**
 * Fonts in order of preference, as CSS and fontconfig read them: DejaVu Sans (on most Linux
 * machines), then the common sans-serif fonts of other systems, then whatever the system calls
 * sans-serif. A machine with none of them still renders the pictures (fontconfig substitutes).
 */
export const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/**
 * Colours for series and classes: the Okabe-Ito palette (readable with colour-blindness), without
 * its yellow, which marks the ground truth.
 */
export const PALETTE: readonly string[] = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#56B4E9', '#E69F00', '#000000'];

/** The colour of ground-truth boxes (drawn dashed). */
export const GROUND_TRUTH_COLOR = '#FFE100';

/** Vega-Lite settings of every chart: fonts, sizes, palette, white background. */
export const CHART_CONFIG: Config = {
  font: FONT_FAMILY,
  background: 'white',
  padding: 8,
  title: { fontSize: 15, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', grid: true, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', symbolStrokeWidth: 3 },
  range: { category: [...PALETTE] },
  line: { strokeWidth: 2 },
  view: { stroke: '#bbbbbb' },
};
