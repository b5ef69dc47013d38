#!/usr/bin/python3
"""Write the NumPy-made fixtures used by the Go tests in ../npy_test.go.

Run: /usr/bin/python3 internal/npy/testdata/gen.py

Values are chosen by formula so the Go test can recompute them from the
flat C-order index i:
    float: i*0.25 - 1    signed int: i - 3    unsigned int: i    bool: i % 3 == 0
manifest.json lists, per file, the arrays (name, dtype, shape) it must
decode to, whether Go's WriteNPY must reproduce the file byte for byte, or
the error text reading it must produce.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DESCRS = ['<f4', '<f8', '<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', '<u8', '|b1']


def make(descr, shape):
    dt = np.dtype(descr)
    i = np.arange(int(np.prod(shape, dtype=np.int64)))
    v = {'f': i * 0.25 - 1, 'i': i - 3, 'u': i, 'b': i % 3 == 0}[dt.kind]
    return v.astype(dt).reshape(shape)


def entry(name, a):
    return {'name': name, 'dtype': a.dtype.name, 'shape': list(a.shape)}


manifest = []


def save_npy(fname, a, identical=True, version=None):
    with open(os.path.join(HERE, fname), 'wb') as f:
        np.lib.format.write_array(f, a, version=version)
    manifest.append({'file': fname, 'identical': identical,
                     'arrays': [entry(fname[:-4], a)]})


for d in DESCRS:
    save_npy(np.dtype(d).name + '.npy', make(d, (2, 3)))
save_npy('scalar.npy', make('<f8', ()))
save_npy('vector.npy', make('<i8', (5,)))
save_npy('empty.npy', make('<f4', (0, 3)))
save_npy('cube.npy', make('<u2', (2, 3, 4)))
# NumPy's spare header space for growing shape[0] pushes this header to 192 bytes.
save_npy('manydims.npy', make('<f4', (2,) + (1,) * 16))
save_npy('fortran.npy', np.asfortranarray(make('<f8', (2, 3, 4))), identical=False)
save_npy('fortran2d.npy', np.asfortranarray(make('|b1', (3, 5))), identical=False)
save_npy('bigendian.npy', make('>i4', (2, 3)), identical=False)
save_npy('bigendian_f8.npy', make('>f8', (7,)), identical=False)
save_npy('v2.npy', make('<f4', (3,)), identical=False, version=(2, 0))
save_npy('v3.npy', make('<i2', (3,)), identical=False, version=(3, 0))

members = {np.dtype(d).name: make(d, (2, 3)) for d in DESCRS}
members['scalar'] = make('<f8', ())
members['empty'] = make('<f4', (0, 3))
members['fortran'] = np.asfortranarray(make('<i4', (3, 4)))
members['big'] = make('>i2', (4,))
arrays = [entry(k, v) for k, v in members.items()]
np.savez(os.path.join(HERE, 'savez.npz'), **members)
np.savez_compressed(os.path.join(HERE, 'savez_compressed.npz'), **members)
manifest.append({'file': 'savez.npz', 'arrays': arrays})
manifest.append({'file': 'savez_compressed.npz', 'arrays': arrays})

cplx = np.arange(3) * (1 + 2j)
np.save(os.path.join(HERE, 'complex.npy'), cplx)
manifest.append({'file': 'complex.npy', 'error': 'array "complex": unsupported dtype "<c16" (complex)'})
np.savez(os.path.join(HERE, 'complex.npz'), ok=make('<f4', (2,)), cplx=cplx)
manifest.append({'file': 'complex.npz', 'error': 'array "cplx": unsupported dtype "<c16" (complex)'})
np.save(os.path.join(HERE, 'strings.npy'), np.array(['a', 'bc']))
manifest.append({'file': 'strings.npy', 'error': 'unsupported dtype "<U2" (unicode string)'})
np.save(os.path.join(HERE, 'structured.npy'), np.zeros(2, dtype=[('x', '<f4'), ('y', '<i8')]))
manifest.append({'file': 'structured.npy', 'error': "unsupported dtype [('x', '<f4'), ('y', '<i8')] (structured)"})

with open(os.path.join(HERE, 'manifest.json'), 'w') as f:
    json.dump(manifest, f, indent=1)
    f.write('\n')
