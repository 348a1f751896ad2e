"""QR code PNGs for OA tickets (`showqrcode`) and WeCom contact ways, so the console can show
the sandbox's codes like real ones. The `qrcode` package draws the matrix; the PNG is written
here with zlib so no imaging library is needed."""

import struct
import zlib


def qr_png(text: str, scale: int = 4) -> bytes:
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(text)
    code.make(fit=True)
    return matrix_png(code.get_matrix(), scale)


def matrix_png(matrix: list[list[bool]], scale: int) -> bytes:
    """A greyscale PNG of a boolean matrix (True is black), `scale` pixels per module."""
    rows = []
    for row in matrix:
        line = b"\x00" + bytes(0 if dark else 255 for dark in row for _ in range(scale))
        rows.extend([line] * scale)
    header = struct.pack(">IIBBBBB", len(matrix[0]) * scale, len(matrix) * scale, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
