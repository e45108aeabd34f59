export { AnchorGenerator, type ImageList, type AnchorPlacement } from './anchor-generator.js';
export { Matcher } from './matcher.js';
