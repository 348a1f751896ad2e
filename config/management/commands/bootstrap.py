from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "What `make run` does before starting: migrate, periodic tasks, admin, demo data."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=None, help="demo size (default: seed_demo's)"
        )
        parser.add_argument("--no-demo", action="store_true")

    def handle(self, *args, customers, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("setup_periodic_tasks", stdout=self.stdout)
        call_command("ensure_admin", stdout=self.stdout)
        if not no_demo:
            demo = {"customers": customers} if customers else {}
            call_command("seed_demo", stdout=self.stdout, **demo)
