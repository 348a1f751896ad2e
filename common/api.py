"""API plumbing shared by every app: errors are JSON with field errors, never a 500 page."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import ProtectedError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, ProtectedError):
        names = ", ".join(sorted({str(o) for o in list(exc.protected_objects)[:5]}))
        return Response(
            {"non_field_errors": [f"still in use by: {names}"]}, status=status.HTTP_409_CONFLICT
        )
    elif isinstance(exc, DataError):
        logger.warning("data error from user input: %s", exc)
        return Response(
            {"non_field_errors": [str(exc).splitlines()[0]]}, status=status.HTTP_400_BAD_REQUEST
        )
    return drf_exception_handler(exc, context)
