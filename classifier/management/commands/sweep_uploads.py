from datetime import timedelta

from django.core.management.base import BaseCommand

from classifier.services import orphan_files_sweep


class Command(BaseCommand):
    help = "Delete stored images that no prediction points at (left by a worker killed mid-upload)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=float, default=60, help="minutes a file must be old (default 60: never in flight)"
        )

    def handle(self, *args, older_than, **options):
        removed = orphan_files_sweep(older_than=timedelta(minutes=older_than))
        self.stdout.write(f"Removed {len(removed)} file(s) without a prediction.")
