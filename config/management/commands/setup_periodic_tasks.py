from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.periodic import PERIODIC_TASKS


class Command(BaseCommand):
    help = "Install the periodic tasks declared in config/periodic.py into django-celery-beat."

    @transaction.atomic
    def handle(self, *args, **options):
        for name, (task, cron, description) in PERIODIC_TASKS.items():
            schedules = {"crontab": None, "interval": None}
            if "every_seconds" in cron:  # sub-minute work (real-time triggers)
                schedules["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=cron["every_seconds"], period=IntervalSchedule.SECONDS
                )
            else:
                schedules["crontab"], _ = CrontabSchedule.objects.get_or_create(
                    minute=cron.get("minute", "*"),
                    hour=cron.get("hour", "*"),
                    day_of_week=cron.get("day_of_week", "*"),
                    day_of_month=cron.get("day_of_month", "*"),
                    month_of_year=cron.get("month_of_year", "*"),
                    timezone="Asia/Shanghai",
                )
            task_row, created = PeriodicTask.objects.get_or_create(
                name=name,
                defaults={"task": task, "description": str(description), **schedules},
            )
            if not created:  # keep an operator's pause (enabled=False) but follow the code
                task_row.task, task_row.description = task, str(description)
                task_row.crontab, task_row.interval = schedules["crontab"], schedules["interval"]
                task_row.save(update_fields=["task", "crontab", "interval", "description"])
        stale = (
            PeriodicTask.objects.exclude(name__in=list(PERIODIC_TASKS))
            .exclude(name__startswith="celery.")
            .filter(description__startswith="[quanyu]")
        )
        stale.delete()
        self.stdout.write(f"{len(PERIODIC_TASKS)} periodic tasks installed")
