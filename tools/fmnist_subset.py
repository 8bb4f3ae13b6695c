#!/usr/bin/env python3
"""Writes the first N training and M test images of Fashion-MNIST (IDX, uncompressed) to DIR, for
quick runs such as the last-batch memory measurement in bench/CPU.md:
    python3 tools/fmnist_subset.py /tmp/fm6k 6000 1000
    actlab train --data fashion-mnist:/tmp/fm6k --batch 1600 --epochs 1
"""
import gzip
import os
import struct
import sys

SOURCE = '/usr/share/datasets/fashion-mnist'


def read(name):
    for candidate in (name, name + '.gz'):
        path = os.path.join(SOURCE, candidate)
        if os.path.exists(path):
            with (gzip.open(path) if candidate.endswith('.gz') else open(path, 'rb')) as f:
                return f.read()
    sys.exit(f'fmnist_subset.py: {name} not found under {SOURCE} (apt-get install dataset-fashion-mnist)')


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: fmnist_subset.py DIR TRAIN_COUNT TEST_COUNT')
    out, counts = sys.argv[1], {'train': int(sys.argv[2]), 't10k': int(sys.argv[3])}
    os.makedirs(out, exist_ok=True)
    for kind, count in counts.items():
        images, labels = read(f'{kind}-images-idx3-ubyte'), read(f'{kind}-labels-idx1-ubyte')
        available = struct.unpack('>I', images[4:8])[0]
        if not 1 <= count <= available:
            sys.exit(f'fmnist_subset.py: {kind} count must be from 1 to {available}, got {count}')
        with open(os.path.join(out, f'{kind}-images-idx3-ubyte'), 'wb') as f:
            f.write(struct.pack('>IIII', 2051, count, 28, 28) + images[16:16 + count * 784])
        with open(os.path.join(out, f'{kind}-labels-idx1-ubyte'), 'wb') as f:
            f.write(struct.pack('>II', 2049, count) + labels[8:8 + count])


if __name__ == '__main__':
    main()
