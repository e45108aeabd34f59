/**
 * A Vega-Lite spec drawn as SVG: compiled to Vega, run headless (no canvas, no browser) and
 * serialised by Vega's SVG renderer.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { CHART_CONFIG } from './style.js';

/**
 * The SVG text of a chart. `scale` multiplies the SVG's width and height (its viewBox stays), so
 * the PNG made from it has `scale` pixels per chart unit: 2 gives sharp text on high-density
 * screens and in READMEs.
 */
export async function vegaLiteToSvg(spec: TopLevelSpec, scale = 2): Promise<string> {
  const compiled = compile({ ...spec, config: { ...CHART_CONFIG, ...spec.config } }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG(scale);
  } finally {
    view.finalize();
  }
}
