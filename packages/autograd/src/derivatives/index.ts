/**
 * The derivative table's entries, one file per op family of the tensor core; each registers its
 * entries with defineDerivative when imported.
 */
import './elementwise.js';
import './views.js';
import './convert.js';
import './reduce.js';
import './softmax.js';
import './matmul.js';
import './indexing.js';
import './join.js';
import './nn.js';
import './selection.js';
