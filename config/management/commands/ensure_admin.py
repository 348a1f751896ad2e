import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin user if none exists and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("QUANYU_ADMIN_USER", "admin"))
        parser.add_argument(
            "--password", default=os.environ.get("QUANYU_ADMIN_PASSWORD", "quanyu-admin")
        )

    def handle(self, *args, username, password, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(
                self.style.SUCCESS(f"admin created — username: {username}  password: {password}")
            )
        else:
            self.stdout.write(f"admin exists — username: {username} (password unchanged)")
        user.groups.add(Group.objects.get(name="admin"))
