import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ValueError, arange, formatExp, formatFixed, ones, setPrintOptions, getPrintOptions, tensor, zeros,
} from '@kiln/tensor';
import { forEachDevice, recordOps, expectError } from '@kiln/tensor/testing';

// Python 3's '%.4f' % v, '%.0f' % v and '{:.4e}'.format(v) of these values (generated with Python, pasted)
const pyFixed4: [number, string][] = [[0.5, '0.5000'], [1.5, '1.5000'], [2.5, '2.5000'], [-2.5, '-2.5000'], [0.125, '0.1250'], [0.0625, '0.0625'], [1e-07, '0.0000'], [123456.789, '123456.7890'], [0.33333333, '0.3333'], [2.675, '2.6750'], [1.0000499999, '1.0000'], [0.99995, '1.0000'], [-7.00005, '-7.0000'], [3.14159265, '3.1416'], [1000000000000000.0, '1000000000000000.0000'], [5e-324, '0.0000'], [0.045, '0.0450'], [0.00045, '0.0004'], [-73.12715148925781, '-73.1272'], [69.48674774169922, '69.4867'], [52.75492477416992, '52.7549'], [-48.9861946105957, '-48.9862'], [-0.9129825830459595, '-0.9130'], [-10.101786613464355, '-10.1018'], [30.318593978881836, '30.3186'], [57.74467086791992, '57.7447']];
const pyFixed0: [number, string][] = [[0.5, '0'], [1.5, '2'], [2.5, '2'], [-2.5, '-2'], [0.125, '0'], [0.0625, '0'], [1e-07, '0'], [123456.789, '123457'], [0.33333333, '0'], [2.675, '3'], [1.0000499999, '1'], [0.99995, '1'], [-7.00005, '-7'], [3.14159265, '3'], [1000000000000000.0, '1000000000000000'], [5e-324, '0'], [0.045, '0'], [0.00045, '0'], [-73.12715148925781, '-73'], [69.48674774169922, '69'], [52.75492477416992, '53'], [-48.9861946105957, '-49'], [-0.9129825830459595, '-1'], [-10.101786613464355, '-10'], [30.318593978881836, '30'], [57.74467086791992, '58']];
const pyExp4: [number, string][] = [[0.5, '5.0000e-01'], [1.5, '1.5000e+00'], [2.5, '2.5000e+00'], [-2.5, '-2.5000e+00'], [0.125, '1.2500e-01'], [0.0625, '6.2500e-02'], [1e-07, '1.0000e-07'], [123456.789, '1.2346e+05'], [0.33333333, '3.3333e-01'], [2.675, '2.6750e+00'], [1.0000499999, '1.0000e+00'], [0.99995, '9.9995e-01'], [-7.00005, '-7.0000e+00'], [3.14159265, '3.1416e+00'], [1000000000000000.0, '1.0000e+15'], [6.02e+23, '6.0200e+23'], [1.7976931348623157e+308, '1.7977e+308'], [5e-324, '4.9407e-324'], [0.045, '4.5000e-02'], [0.00045, '4.5000e-04'], [-73.12715148925781, '-7.3127e+01'], [69.48674774169922, '6.9487e+01'], [52.75492477416992, '5.2755e+01'], [-48.9861946105957, '-4.8986e+01'], [-0.9129825830459595, '-9.1298e-01'], [-10.101786613464355, '-1.0102e+01'], [30.318593978881836, '3.0319e+01'], [57.74467086791992, '5.7745e+01']];

describe('number formatting (Python format())', () => {
  it('matches Python on a table of values', () => {
    for (const [v, want] of pyFixed4) expect(formatFixed(v, 4), String(v)).toBe(want);
    for (const [v, want] of pyFixed0) expect(formatFixed(v, 0), String(v)).toBe(want);
    for (const [v, want] of pyExp4) expect(formatExp(v, 4), String(v)).toBe(want);
  });

  it('fixed: rounds exact ties to even, everything else correctly', () => {
    expect(formatFixed(2.5, 0)).toBe('2');
    expect(formatFixed(3.5, 0)).toBe('4');
    expect(formatFixed(-0.5, 0)).toBe('-0');
    expect(formatFixed(0.125, 2)).toBe('0.12');
    expect(formatFixed(0.375, 2)).toBe('0.38');
    expect(formatFixed(0.03125, 4)).toBe('0.0312');
    expect(formatFixed(1.005, 2)).toBe('1.00'); // 1.00499999999999989...
    expect(formatFixed(0.00005, 4)).toBe('0.0001'); // 5.00000000000000023...e-5: not a tie
    expect(formatFixed(-0, 4)).toBe('-0.0000');
    expect(formatFixed(-1e-5, 4)).toBe('-0.0000');
    expect(formatFixed(9.99995, 4)).toBe('10.0000'); // 9.99995000000000001...: above the tie
    expect(formatFixed(NaN, 4)).toBe('nan');
    expect(formatFixed(-Infinity, 4)).toBe('-inf');
  });

  it('exponential: two-digit exponents, ties to even', () => {
    expect(formatExp(1.03125, 4)).toBe('1.0312e+00');
    expect(formatExp(125, 1)).toBe('1.2e+02');
    expect(formatExp(135, 1)).toBe('1.4e+02');
    expect(formatExp(1250000, 1)).toBe('1.2e+06');
    expect(formatExp(12345678, 2)).toBe('1.23e+07');
    expect(formatExp(1e-300, 4)).toBe('1.0000e-300');
    expect(formatExp(-0, 4)).toBe('-0.0000e+00');
    expect(formatExp(0, 4)).toBe('0.0000e+00');
    expect(formatExp(Infinity, 4)).toBe('inf');
  });
});

describe('printing tensors as PyTorch', () => {
  afterEach(() => setPrintOptions());

  it('floats: fixed, integer and scientific modes', () => {
    expect(String(tensor([[1.0, -2.5], [3.0, 4.0]], { dtype: 'float64' }))).toBe('tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]], dtype=float64)');
    expect(String(tensor([1, 2, 3], { dtype: 'float32' }))).toBe('tensor([1., 2., 3.])');
    expect(String(tensor([1.5, 2.25]))).toBe('tensor([1.5000, 2.2500])');
    expect(String(tensor([1e-5, 1]))).toBe('tensor([1.0000e-05, 1.0000e+00])');
    expect(String(tensor([1e10, 1], { dtype: 'float32' }))).toBe('tensor([1.0000e+10, 1.0000e+00])');
    expect(String(tensor([-1000, 1], { dtype: 'float32' }))).toBe('tensor([-1000.,     1.])');
    expect(String(tensor([0.03125, 2.5], { dtype: 'float64' }))).toBe('tensor([0.0312, 2.5000], dtype=float64)');
    expect(String(tensor([NaN, 1, Infinity, -Infinity]))).toBe('tensor([nan, 1., inf, -inf])');
    expect(String(tensor([0, NaN], { dtype: 'float32' }))).toBe('tensor([0., nan])');
    expect(String(tensor([1e-8, NaN, -2]))).toBe('tensor([ 1.0000e-08,         nan, -2.0000e+00])');
    expect(String(tensor([1.5, 2], { dtype: 'float16' }))).toBe('tensor([1.5000, 2.0000], dtype=float16)');
    expect(String(tensor([0.1, -3], { dtype: 'bfloat16' }))).toBe('tensor([ 0.1001, -3.0000], dtype=bfloat16)');
  });

  it('integers and bools', () => {
    expect(String(arange(10))).toBe('tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])');
    expect(String(tensor([-1, 2, 30]))).toBe('tensor([-1,  2, 30])');
    expect(String(ones([3], { dtype: 'int32' }))).toBe('tensor([1, 1, 1], dtype=int32)');
    expect(String(tensor([true, false]))).toBe('tensor([ true, false])');
    expect(String(tensor([2n ** 60n, -3n]))).toBe('tensor([1152921504606846976,                  -3])');
  });

  it('0-d and empty tensors', () => {
    expect(String(tensor(3.5))).toBe('tensor(3.5000)');
    expect(String(tensor(5))).toBe('tensor(5)');
    expect(String(tensor(true))).toBe('tensor(true)');
    expect(String(tensor(2, { dtype: 'float32', requiresGrad: true }))).toBe('tensor(2., requiresGrad=true)');
    expect(String(tensor([]))).toBe('tensor([])');
    expect(String(zeros([0, 3]))).toBe('tensor([], size=[0, 3])');
    expect(String(zeros([0], { dtype: 'int64' }))).toBe('tensor([], dtype=int64)');
    expect(String(zeros([2, 0, 3], { dtype: 'bool' }))).toBe('tensor([], size=[2, 0, 3], dtype=bool)');
  });

  it('wraps long rows at 80 columns and puts suffixes on a new line when they do not fit', () => {
    expect(String(arange(12, undefined, 1, { dtype: 'float32' }).div(7))).toBe(
      'tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n' +
      '        1.2857, 1.4286, 1.5714])');
    expect(String(arange(9, undefined, 1, { dtype: 'float64' }).div(7))).toBe(
      'tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429],\n' +
      '       dtype=float64)');
  });

  it('summarises more than 1000 elements with ...', () => {
    expect(String(arange(2000))).toBe('tensor([   0,    1,    2,  ..., 1997, 1998, 1999])');
    expect(String(arange(2000, undefined, 1, { dtype: 'float32' }))).toBe(
      'tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n' +
      '        1.9990e+03])');
    expect(String(arange(2000).reshape(100, 20))).toBe([
      'tensor([[   0,    1,    2,  ...,   17,   18,   19],',
      '        [  20,   21,   22,  ...,   37,   38,   39],',
      '        [  40,   41,   42,  ...,   57,   58,   59],',
      '        ...,',
      '        [1940, 1941, 1942,  ..., 1957, 1958, 1959],',
      '        [1960, 1961, 1962,  ..., 1977, 1978, 1979],',
      '        [1980, 1981, 1982,  ..., 1997, 1998, 1999]])',
    ].join('\n'));
    // 3-d: blank lines between the blocks, '...' for the skipped ones
    const s = String(arange(8 * 2 * 70).reshape(8, 2, 70));
    expect(s.split('\n').slice(0, 4)).toEqual([
      'tensor([[[   0,    1,    2,  ...,   67,   68,   69],',
      '         [  70,   71,   72,  ...,  137,  138,  139]],',
      '',
      '        [[ 140,  141,  142,  ...,  207,  208,  209],',
    ]);
    expect(s).toContain(']],\n\n        ...,\n\n        [[');
    // exactly the threshold: not summarised
    expect(String(zeros([1000], { dtype: 'int32' }))).not.toContain('...');
    expect(String(zeros([1001], { dtype: 'int32' }))).toContain('...');
  });

  it('shows requiresGrad or the gradFn, and handles views and disposed tensors', () => {
    expect(String(tensor([1, 2], { dtype: 'float32', requiresGrad: true }))).toBe('tensor([1., 2.], requiresGrad=true)');
    const y = tensor([1.5, 2], { dtype: 'float32' });
    y.gradFn = { name: 'MulBackward' };
    expect(String(y)).toBe('tensor([1.5000, 2.0000], gradFn=<MulBackward>)');
    expect(String(tensor([[1, 2], [3, 4]]).t())).toBe('tensor([[1, 3],\n        [2, 4]])');
    const d = tensor([1, 2]);
    d.dispose();
    expect(String(d)).toBe('tensor(<disposed>, shape=[2], dtype=int64)');
  });

  it('is what util.inspect and console.log show', () => {
    const t = tensor([[1, 2]]);
    expect(inspect(t)).toBe('tensor([[1, 2]])');
    expect(`${t}`).toBe('tensor([[1, 2]])');
  });

  it('follows the print options', () => {
    setPrintOptions({ precision: 2 });
    expect(String(tensor([1.2345, 2]))).toBe('tensor([1.23, 2.00])');
    setPrintOptions({ sciMode: true });
    expect(String(tensor([1.5, 2]))).toBe('tensor([1.50e+00, 2.00e+00])');
    setPrintOptions({ sciMode: null, threshold: 5, edgeitems: 1, precision: 4 });
    expect(String(arange(6))).toBe('tensor([0,  ..., 5])');
    setPrintOptions({ linewidth: 20 });
    expect(String(arange(6))).toBe('tensor([0,  ..., 5])');
    setPrintOptions();
    expect(getPrintOptions()).toEqual({ precision: 4, threshold: 1000, edgeitems: 3, linewidth: 80, sciMode: null });
    expectError(() => setPrintOptions({ edgeitems: 0 }), ValueError, { op: 'setPrintOptions', argument: 'edgeitems', expected: 'an integer >= 1', got: '0' });
  });

  it('records nothing for autograd while summarising', () => {
    const recorded = recordOps(() => String(zeros([50, 50], { requiresGrad: true })));
    expect(recorded).toEqual([]);
  });
});

forEachDevice('printing on a device', (dev) => {
  it('shows the device unless it is the CPU', () => {
    const t = tensor([[1, -2.5], [3, 4]], { dtype: 'float64', device: dev });
    const suffix = dev === 'cpu' ? '' : `, device='${t.device}'`;  // PyTorch: device before dtype
    expect(String(t)).toBe(`tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]]${suffix}, dtype=float64)`);
    expect(String(arange(2000, undefined, 1, { device: dev }))).toBe(`tensor([   0,    1,    2,  ..., 1997, 1998, 1999]${suffix})`);
  });
});
