#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): small valid inputs of each format,
from which libFuzzer mutates. Needs only Python and, for the JPEG seeds, g++ with stb_image_write
(Debian's libstb-dev). Run from the repository root: python3 tools/make_fuzz_corpus.py
"""
import gzip
import json
import os
import struct
import subprocess
import tempfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fuzz', 'corpus')


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), 'wb') as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, b'', 0
    if metadata:
        header['__metadata__'] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [offset, offset + len(data)]}
        blobs += data
        offset += len(data)
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + blobs


def floats(values):
    return struct.pack('<%df' % len(values), *values)


def idx(images, height, width, labels):
    image_file = struct.pack('>IIII', 0x803, len(labels), height, width) + bytes(images)
    label_file = struct.pack('>II', 0x801, len(labels)) + bytes(labels)
    return image_file, label_file


def png(width, height, pixels):
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
    rows = b''.join(b'\0' + bytes(pixels[y * width * 3:(y + 1) * width * 3]) for y in range(height))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


JPEG_WRITER = r'''
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <cstdlib>
int main(int argc, char** argv) {
  const int w = std::atoi(argv[2]), h = std::atoi(argv[3]), gray = std::atoi(argv[4]);
  const int c = gray ? 1 : 3;
  unsigned char p[64 * 64 * 3];
  for (int i = 0; i < w * h * c; ++i) p[i] = static_cast<unsigned char>(i * 37 % 251);
  return !stbi_write_jpg(argv[1], w, h, c, p, 75);
}
'''


def jpegs():
    with tempfile.TemporaryDirectory() as tmp:
        source, program = os.path.join(tmp, 'w.cpp'), os.path.join(tmp, 'w')
        with open(source, 'w') as f:
            f.write(JPEG_WRITER)
        subprocess.run(['g++', '-O1', '-I/usr/include', source, '-o', program], check=True)
        out = []
        for w, h, gray in ((8, 8, 0), (13, 7, 0), (16, 16, 1)):
            path = os.path.join(tmp, 'x.jpg')
            subprocess.run([program, path, str(w), str(h), str(gray)], check=True)
            with open(path, 'rb') as f:
                out.append(f.read())
        return out


def main():
    put('fuzz_safetensors', 'two-f32', safetensors([('a', 'F32', [2], floats([1, 2])), ('b', 'F32', [1], floats([3]))]))
    put('fuzz_safetensors', 'metadata-i64-f16', safetensors(
        [('bn1.num_batches_tracked', 'I64', [], struct.pack('<q', 5)), ('w', 'F16', [2, 2], b'\0\x3c' * 4)],
        {'format': 'actlab', 'model': 'resnet20', 'step': '4'}))
    put('fuzz_safetensors', 'resnet20-stem', safetensors(
        [('conv1.weight', 'F32', [16, 1, 3, 3], floats([0.01 * i for i in range(144)])),
         ('bn1.weight', 'BF16', [16], b'\x80\x3f' * 16)]))
    put('fuzz_safetensors', 'empty', safetensors([]))

    images, labels = idx([i % 256 for i in range(3 * 4 * 4)], 4, 4, [1, 2, 9])
    put('fuzz_idx', 'plain', bytes([len(labels)]) + labels + images)
    put('fuzz_idx', 'gzip', bytes([len(labels)]) + labels + gzip.compress(images, mtime=0))
    images, labels = idx([200] * (2 * 28 * 28), 28, 28, [0, 5])
    put('fuzz_idx', 'fashion-28x28', bytes([len(labels)]) + labels + images)

    put('fuzz_cifar', 'cifar10-two', bytes([3]) + bytes(range(256)) * 12 + bytes([7]) + bytes(3072))
    put('fuzz_cifar', 'cifar100-one', bytes([4, 71]) + bytes(i % 256 for i in range(3072)))

    put('fuzz_image', 'png-rgb', bytes([17]) + png(5, 3, [i * 13 % 256 for i in range(5 * 3 * 3)]))
    put('fuzz_image', 'png-wide', bytes([40]) + png(32, 2, [i % 256 for i in range(32 * 2 * 3)]))
    for i, data in enumerate(jpegs()):
        put('fuzz_image', 'jpeg-%d' % i, bytes([9 + i]) + data)

    for i, spec in enumerate(['relu', 'swish(beta=1.5)', 'acon-c(init=swish)', 'meta-acon(r=2,space=pixel,bn=false)',
                              'dyrelu-b(k=3,r=2)', 'dyrelu-c(tau=2)', 'pwlu(n=8,mode=layer,stat_epochs=0)',
                              'leaky-relu(slope=0.2)', 'elu(alpha=0.5)', 'prelu(init=0.1)']):
        put('fuzz_spec', 'spec-%d' % i, spec.encode())
    # What fuzzing found (gigabytes of parameters asked for), kept as seeds.
    put('fuzz_spec', 'found-pwlu-huge-n', b'pwlu(n=811111144)')
    put('fuzz_spec', 'found-meta-acon-huge-r', b'meta-acon(r=811111144)')

    put('fuzz_glob', 'resnet20', b'layer1.**=silu\npreset:3x3=acon-c\nlayer*.0.act?=relu\n'
        b'act1\nlayer1.0.act1\nlayer1.0.act2\nlayer3.2.act2\n')
    put('fuzz_glob', 'stars', b'**.*a*b*.**=relu\na.b.ab.ba\nlayer2.1.act1\n')


if __name__ == '__main__':
    main()
