/**
 * The checks on values saved for backward, shared by op nodes and Functions: a saved tensor must
 * still be at the version it had when saved (in-place ops bump a storage's version), and saved values
 * are gone once a backward pass without retainGraph went through the node.
 */
import { AutogradError, type Tensor } from '@kiln/tensor';

/** Throws PyTorch's error when a saved tensor was changed in place after it was saved. */
export function checkSavedVersion(t: Tensor, savedVersion: number, what: string, nodeName: string): void {
  const now = t.storage.version;
  if (now !== savedVersion) {
    // PyTorch's wording, which users search for; the facts are fields as well
    throw new AutogradError({
      op: nodeName, argument: `saved tensor ${what}`, expected: `version ${savedVersion}`, got: `version ${now}`,
      message: `one of the variables needed for gradient computation has been modified by an inplace operation: ` +
        `saved tensor ${what} of ${nodeName} is at version ${now}; expected version ${savedVersion}. ` +
        'Hint: the in-place op ran after the tensor was used; use its out-of-place form or clone() the tensor first.',
    });
  }
}

/** The error for a node whose saved values were freed by an earlier backward pass. */
export function freedError(nodeName: string): AutogradError {
  return new AutogradError({
    op: nodeName,
    message: `Trying to backward through the graph a second time (or to read saved tensors after they were freed): ` +
      `the values ${nodeName} saved were freed by the first backward pass. ` +
      'Pass { retainGraph: true } to the first backward() or grad() call to go through the graph again.',
  });
}
