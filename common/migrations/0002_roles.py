"""Create the console roles (admin, operator, analyst, staff) as auth groups with permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from common.roles import roles_sync

    roles_sync(apps=apps)


def drop_roles(apps, schema_editor):
    from common.roles import ROLE_LABELS

    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_LABELS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0001_initial"),
        ("customers", "0001_initial"),
        ("tags", "0001_initial"),
        ("channels", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
