"""OA parametric QR codes (带参数二维码): made on the platform, counted by their scene, drawn
as SVG or PNG.

Drawing needs no imaging library: the `qrcode` package makes the matrix and its SVG, and the
PNG is written here with zlib (neither Pillow nor pypng is installed).
"""

import struct
import zlib

import qrcode
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from qrcode.image.svg import SvgPathImage

from channels import adapters
from channels.choices import ChannelKind, HitKind
from channels.livecodes import hit_stats
from channels.models import ChannelAccount, QrCode

MAX_EXPIRE_SECONDS = 2_592_000  # WeChat's limit for a temporary code: 30 days
PNG_SCALE = 8  # pixels per module


def qr_code_create(
    *,
    account: ChannelAccount,
    name: str,
    scene: str,
    permanent: bool = True,
    expire_seconds: int = MAX_EXPIRE_SECONDS,
    tags=(),
    reply_text: str = "",
) -> QrCode:
    """Make a scene QR code on the OA; whoever scans it is tagged with `tags` and answered
    with `reply_text` (a follow through it too)."""
    scene = (scene or "").strip()
    errors = {}
    if account.kind != ChannelKind.WECHAT_OA:
        errors["account"] = _("渠道二维码需要微信公众号账号")
    if not (name or "").strip():
        errors["name"] = _("名称不能为空")
    if not scene:
        errors["scene"] = _("场景值不能为空")
    elif QrCode.objects.filter(account=account, scene=scene).exists():
        errors["scene"] = _("这个公众号已有相同场景值的二维码")
    if not permanent and not 60 <= expire_seconds <= MAX_EXPIRE_SECONDS:
        errors["expire_seconds"] = _("临时二维码的有效期为 60 秒到 30 天")
    if errors:
        raise ValidationError(errors)
    qr = QrCode(
        account=account, name=name.strip(), scene=scene, permanent=permanent,
        expire_seconds=expire_seconds, reply_text=reply_text,
    )  # fmt: skip
    qr.full_clean()
    answer = adapters.adapter_for(account).create_qrcode(
        scene=scene, permanent=permanent, expire_seconds=expire_seconds
    )
    qr.ticket, qr.url, qr.expires_at = answer["ticket"], answer["url"], answer["expires_at"]
    with transaction.atomic():
        qr.save()
        qr.tags.set(list(tags))
    return qr


def qr_code_stats(qr: QrCode, *, now=None, detail: bool = True) -> dict:
    """`scans` (every scan, following or not), `subscribes` (= `adds`: follows through the
    code), `deletes` (unfollows of those), `net`, `kept_7d`; with `detail`, a daily `series`."""
    stats = hit_stats(
        qr.hits.all(), code_field="qr_code", add_kind=HitKind.SUBSCRIBE,
        scan_kinds=[HitKind.SCAN, HitKind.SUBSCRIBE], now=now, detail=detail,
    )  # fmt: skip
    stats["subscribes"] = stats["adds"]
    return stats


def _matrix(text: str) -> list[list[bool]]:
    code = qrcode.QRCode(border=4)
    code.add_data(text)
    code.make(fit=True)
    return code.get_matrix()


def qr_svg(text: str) -> str:
    """An SVG QR code of `text`."""
    return qrcode.make(text, image_factory=SvgPathImage, border=4).to_string(encoding="unicode")


def qr_png(text: str, scale: int = PNG_SCALE) -> bytes:
    """A black-and-white PNG QR code of `text` (1 bit per pixel)."""
    matrix = _matrix(text)
    width = len(matrix[0]) * scale
    rows = []
    for row in matrix:
        bits = "".join("0" if dark else "1" for dark in row for _pixel in range(scale))
        bits = bits.ljust(-(-width // 8) * 8, "1")
        line = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter type 0
        rows.extend([line] * scale)
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
