#!/usr/bin/env python3
"""Writes small sample images that the bundled mock server "recognizes".

Usage: make_sample_images.py OUT_DIR [--count N] [--seed S] [--size-kb K] [--png]

Each image is a baseline JPEG (a plain grey picture that real decoders open) carrying a COM
segment with the marker `plate=ABC123;region=us-ca`, which carcheck-mock reads (see
tools/mock_server/README.md, "Recognition convention"), and a SOF0 frame header from which the
mock takes img_width/img_height. With --size-kb the file is padded with APP15 segments of
pseudo-random bytes to at least K KiB. With --png a PNG is written instead (grey, with the
marker in a tEXt chunk and padding in a private ancillary chunk).

Files are named car-0001.jpg, car-0002.jpg, ...; the same seed gives the same bytes, and the
plates of one run are distinct (three letters and three or four digits). One line per file,
`PATH PLATE`, goes to stdout. Standard library only.
"""

import argparse
import os
import random
import string
import struct
import sys
import zlib

REGIONS = ["us-ca", "us-tx", "us-ny", "us-fl", "us-wa", "us-il", "us-or", "us-nv"]
SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 720), (1600, 1200), (1920, 1080)]
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2  # a JPEG segment length counts its own two bytes


def segment(marker, payload):
    """A JPEG marker segment: FF marker, big-endian length (payload + 2), payload."""
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise ValueError("JPEG segment payload too long")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(width, height, marker_text, size_bytes, rng):
    """A decodable single-component baseline JPEG of a uniform grey, with the marker comment.

    Both Huffman tables hold one symbol of a one-bit code: DC category 0 (no change) and the AC
    end-of-block. Every 8x8 block is therefore the two bits 00, and the entropy-coded data is
    zero bytes padded with one-bits, which never needs byte stuffing.
    """
    head = bytearray(b"\xFF\xD8")  # SOI
    head += segment(0xFE, marker_text.encode("ascii"))  # COM
    head += segment(0xDB, bytes([0x00]) + bytes([16] * 64))  # DQT: table 0, 8-bit, flat
    # SOF0: precision 8, height, width, one component (id 1, sampling 1x1, quant table 0).
    head += segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    one_code = bytes([1] + [0] * 15)  # one code of length 1
    head += segment(0xC4, bytes([0x00]) + one_code + bytes([0x00]))  # DHT DC 0: category 0
    head += segment(0xC4, bytes([0x10]) + one_code + bytes([0x00]))  # DHT AC 0: EOB

    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = 2 * blocks
    scan = bytearray(bits // 8)
    if bits % 8:
        scan.append((1 << (8 - bits % 8)) - 1)  # pad the last byte with one-bits
    tail = bytearray()
    # SOS: one component (id 1, DC table 0, AC table 0), spectral 0..63, no approximation.
    tail += segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
    tail += scan
    tail += b"\xFF\xD9"  # EOI

    padding = bytearray()
    missing = size_bytes - len(head) - len(tail)
    while missing > 4:
        n = min(MAX_SEGMENT_PAYLOAD, missing - 4)
        padding += segment(0xEF, rng.randbytes(n))  # APP15: ignored by decoders
        missing -= n + 4
    return bytes(head + padding + tail)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, marker_text, size_bytes, rng):
    """A grey 8-bit PNG with the marker in a tEXt chunk right after IHDR."""
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    # The ';' ends the marker: the CRC that follows could otherwise extend the region.
    out += png_chunk(b"tEXt", b"Comment\x00" + marker_text.encode("ascii") + b";")
    row = b"\x00" + b"\x80" * width  # filter type 0, mid grey
    idat = png_chunk(b"IDAT", zlib.compress(row * height, 9))
    iend = png_chunk(b"IEND", b"")
    missing = size_bytes - len(out) - len(idat) - len(iend)
    while missing > 12:
        n = min(1 << 20, missing - 12)
        out += png_chunk(b"caPd", rng.randbytes(n))  # private ancillary chunk: ignored
        missing -= n + 12
    return bytes(out + idat + iend)


def distinct_plates(rng, count):
    plates, seen = [], set()
    while len(plates) < count:
        letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
        digits = "".join(rng.choice(string.digits) for _ in range(rng.choice((3, 4))))
        plate = letters + digits
        if plate not in seen:
            seen.add(plate)
            plates.append(plate)
    return plates


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write sample images that carcheck-mock recognizes.")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write into (created if missing)")
    parser.add_argument("--count", type=int, default=10, help="number of images (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed; the same seed gives the same files (default 1)")
    parser.add_argument("--size-kb", type=int, default=0, help="pad each file to at least K KiB (default: no padding)")
    parser.add_argument("--png", action="store_true", help="write PNG files instead of JPEG")
    args = parser.parse_args(argv)
    if args.count < 0 or args.count > 9999999:
        parser.error("--count must be between 0 and 9999999")
    if args.size_kb < 0:
        parser.error("--size-kb must not be negative")

    rng = random.Random(args.seed)
    pad_rng = random.Random("%d-padding" % args.seed)  # plates and sizes do not depend on --size-kb
    os.makedirs(args.out_dir, exist_ok=True)
    width_digits = max(4, len(str(args.count)))
    extension = "png" if args.png else "jpg"
    for i, plate in enumerate(distinct_plates(rng, args.count), start=1):
        region = rng.choice(REGIONS)
        width, height = rng.choice(SIZES)
        marker = "plate=%s;region=%s" % (plate, region)
        make = png if args.png else jpeg
        data = make(width, height, marker, args.size_kb * 1024, pad_rng)
        path = os.path.join(args.out_dir, "car-%0*d.%s" % (width_digits, i, extension))
        with open(path, "wb") as f:
            f.write(data)
        print(path, plate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
