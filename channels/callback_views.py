"""The platforms' callback endpoint, and the QR code images of live codes and OA QR codes."""

import hashlib
import logging

import requests
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from channels.callbacks import (
    CALLBACK_KINDS,
    MessageError,
    SignatureError,
    callback_accept,
    callback_receive,
    callback_verify_url,
)
from channels.models import ChannelAccount, LiveCode, QrCode
from channels.qrcodes import qr_png, qr_svg

logger = logging.getLogger(__name__)

IMAGE_TIMEOUT = 5  # seconds to fetch a live code's image from WeCom
IMAGE_CACHE_SECONDS = 24 * 3600


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request, code: str):
    """GET: the platform checks the URL (echostr). POST: a message or event; the answer is
    the passive reply or "success". A bad signature is 403, an unreadable body 400, both
    without saying more."""
    account = get_object_or_404(ChannelAccount, code=code, kind__in=CALLBACK_KINDS)
    try:
        if request.method == "GET":
            answer = callback_verify_url(account, request.GET)
        else:
            answer = callback_accept(callback_receive(account, request.GET, request.body))
    except SignatureError as exc:
        logger.warning("callback %s refused: %s", code, exc)
        return HttpResponseForbidden()
    except MessageError as exc:
        logger.warning("callback %s unreadable: %s", code, exc)
        return HttpResponseBadRequest()
    content_type = "application/xml" if answer.startswith("<xml") else "text/plain"
    return HttpResponse(answer, content_type=f"{content_type}; charset=utf-8")


@require_GET
@login_required
def qr_image(request, kind: str, pk: str, fmt: str):
    """A code's QR image; `?download=1` makes it an attachment.

    An OA QR code is drawn here from the content WeChat gave (`url`). WeCom gives a live code
    as an image URL instead (its content is not disclosed), so that image is passed through,
    whatever `fmt` asks for, and cached for a day.
    """
    if kind == "livecode":
        if not request.user.has_perm("channels.view_livecode"):
            raise PermissionDenied
        code = get_object_or_404(LiveCode, pk=pk)
        content_type, body = _platform_image(code.qr_url)
        fmt = "jpg" if "jpeg" in content_type else content_type.rpartition("/")[2] or "png"
    else:
        if not request.user.has_perm("channels.view_qrcode"):
            raise PermissionDenied
        qr = get_object_or_404(QrCode, pk=pk)
        if not qr.url:
            raise Http404
        content_type, body = (
            ("image/svg+xml", qr_svg(qr.url)) if fmt == "svg" else ("image/png", qr_png(qr.url))
        )
    response = HttpResponse(body, content_type=content_type)
    if request.GET.get("download"):
        name = "live-code" if kind == "livecode" else "qr-code"
        response["Content-Disposition"] = f'attachment; filename="{name}-{pk}.{fmt}"'
    return response


def _platform_image(url: str) -> tuple[str, bytes]:
    if not url:
        raise Http404
    key = "channels:qr-image:" + hashlib.sha1(url.encode()).hexdigest()
    cached = cache.get(key)
    if cached:
        return cached
    try:
        answer = requests.get(url, timeout=IMAGE_TIMEOUT)
        answer.raise_for_status()
    except requests.RequestException as exc:
        logger.warning("live code image %s: %s", url, exc)
        raise Http404 from exc
    content_type = answer.headers.get("Content-Type", "image/png").split(";")[0]
    if not content_type.startswith("image/"):
        raise Http404
    cache.set(key, (content_type, answer.content), IMAGE_CACHE_SECONDS)
    return content_type, answer.content
