from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions for writes; reading needs the model's `view` permission too."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


def require_perms(request, *perms: str) -> None:
    """Console views: 403 unless the user holds every one of `perms`."""
    from django.core.exceptions import PermissionDenied

    if not request.user.has_perms(perms):
        raise PermissionDenied
