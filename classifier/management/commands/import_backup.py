from django.core.management.base import BaseCommand, CommandError

from classifier.backup import BackupError, backup_import


class Command(BaseCommand):
    help = (
        "Restore an archive written by export_backup, in one transaction: all of it or nothing. Nothing is "
        "overwritten: existing users are kept; predictions (same owner, SHA-256 and created_at) and conversations "
        "(same owner and created_at) already there are skipped, so importing twice adds nothing. Each image is "
        "inspected as an upload is: anything else fails the import. Users it creates are neither staff nor "
        "superusers unless --restore-staff is given. API tokens are not in the archive: they are secrets; make new "
        "ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="an archive written by export_backup")
        parser.add_argument(
            "--restore-staff",
            action="store_true",
            help="give the users it creates the staff and superuser status the archive records (only for an archive "
            "you trust: it can make anyone an administrator)",
        )

    def handle(self, *args, path, restore_staff, **options):
        try:
            summary = backup_import(path=path, restore_staff=restore_staff)
        except BackupError as error:
            raise CommandError(str(error)) from error
        created, there = summary.created, summary.already_there
        self.stdout.write(
            f"Imported {created['users']} users ({there['users']} already there), {created['predictions']} "
            f"predictions with {created['images']} images ({there['predictions']} already there), "
            f"{created['conversations']} conversations with {created['messages']} messages "
            f"({there['conversations']} already there) from {path}."
        )
        if summary.staff_dropped:
            self.stdout.write(
                f"Created {len(summary.staff_dropped)} users without the staff or superuser status the archive "
                f"gives them ({', '.join(summary.staff_dropped)}): grant it again in the admin, or import into an "
                "empty site with --restore-staff."
            )
