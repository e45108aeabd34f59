/** Every fuzz family by name (run-family.ts looks them up; the tests list them). */
import type { Family } from '../support/family.js';
import { borrowed } from './borrowed.js';
import { copy } from './copy.js';
import { creation } from './creation.js';
import { elementwise } from './elementwise.js';
import { indexing } from './indexing.js';
import { modules } from './modules.js';
import { reduce } from './reduce.js';
import { stateFile } from './state-file.js';
import { views } from './views.js';

export const families: Record<string, Family<unknown>> = {
  creation, views, elementwise, reduce, copy, indexing, modules, borrowed, stateFile,
};
