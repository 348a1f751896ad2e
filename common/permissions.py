from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions for writes; reading needs the model's `view` permission too."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
