/** Reads the PyTorch-generated fixtures (tools/reference/make_loss_fixtures.py) into tensors. */
import { readFileSync } from 'node:fs';
import { type DType, type Tensor, tensor } from '@kiln/tensor';

export interface FixtureTensor {
  shape: number[];
  dtype: string;
  data: number[];
}

export interface FixtureCase {
  name: string;
  loss: string;
  options: Record<string, unknown>;
  inputs: Record<string, FixtureTensor>;
  gradOutput?: FixtureTensor;
  expected: { output: FixtureTensor; gradInput: FixtureTensor };
}

export function loadFixtures(family: string): FixtureCase[] {
  const url = new URL(`./fixtures/${family}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { cases: FixtureCase[] }).cases;
}

/** The fixture's tensor on `device`; float data in `floatDtype`, integer data as int64. */
export function toTensor(f: FixtureTensor, device: string, floatDtype: DType): Tensor {
  const isInt = f.dtype.startsWith('int');
  return tensor(f.data, { dtype: isInt ? 'int64' : floatDtype, device }).reshape(f.shape);
}
