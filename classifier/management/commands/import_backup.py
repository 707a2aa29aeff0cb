from django.core.management.base import BaseCommand, CommandError

from classifier.backup import BackupError, backup_import


class Command(BaseCommand):
    help = (
        "Restore an archive written by export_backup, in one transaction: all of it or nothing. Nothing is "
        "overwritten: existing users are kept; predictions (same owner, SHA-256 and created_at) and conversations "
        "(same owner and created_at) already there are skipped, so importing twice adds nothing. "
        "API tokens are not in the archive: they are secrets; make new ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="an archive written by export_backup")

    def handle(self, *args, path, **options):
        try:
            summary = backup_import(path=path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        created, there = summary.created, summary.already_there
        self.stdout.write(
            f"Imported {created['users']} users ({there['users']} already there), {created['predictions']} "
            f"predictions with {created['images']} images ({there['predictions']} already there), "
            f"{created['conversations']} conversations with {created['messages']} messages "
            f"({there['conversations']} already there) from {path}."
        )
