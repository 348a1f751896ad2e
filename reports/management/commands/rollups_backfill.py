"""`manage.py rollups_backfill --start 2026-01-01 --end 2026-03-31` (default: the last 30
days): recompute the daily rollups for a range; safe to run again."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from reports.choices import RollupTrigger
from reports.rollups import rollups_refresh


def _date(value: str, name: str):
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(f"--{name}: expected YYYY-MM-DD, got {value!r}")
    return parsed


class Command(BaseCommand):
    help = "Recompute the reports' daily rollups for a range of days (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="first day, YYYY-MM-DD (default: 29 days ago)")
        parser.add_argument("--end", help="last day, YYYY-MM-DD (default: today)")

    def handle(self, *args, **options):
        today = timezone.localdate()
        end = _date(options["end"], "end") if options["end"] else today
        start = _date(options["start"], "start") if options["start"] else end - timedelta(days=29)
        if start > end:
            raise CommandError("--start must not be after --end")
        run = rollups_refresh(start=start, end=end, trigger=RollupTrigger.COMMAND)
        self.stdout.write(
            f"rollups {start}..{end}: {run.rows_written} rows in "
            f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
        )
