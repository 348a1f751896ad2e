from django.core.management.base import BaseCommand

from config.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo brand: customers over every channel, six months of events and orders."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--customers", type=int, default=5000)

    def handle(self, *args, seed, customers, **options):
        if customers < 1:
            self.stderr.write("--customers must be at least 1")
            return

        def progress(done, total):
            self.stdout.write(f"\r  events {done}/{total}", ending="")
            self.stdout.flush()

        self.stdout.write(f"Loading demo data (seed {seed}, {customers} people)…")
        summary = demo_load(seed=seed, customers=customers, progress=progress)
        self.stdout.write("")
        if summary.already_loaded:
            self.stdout.write("Demo data already loaded; nothing to do.")
        self.stdout.write(
            self.style.SUCCESS(
                f"customers {summary.customers}, identities {summary.identities}, "
                f"merges {summary.merges}, events {summary.events}, orders {summary.orders}, "
                f"tagged customers {summary.tagged}"
            )
        )
