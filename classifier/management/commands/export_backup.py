from django.core.management.base import BaseCommand, CommandError

from classifier.backup import BackupError, backup_export


class Command(BaseCommand):
    help = (
        "Write every user (with the password hash), prediction (with its image) and conversation to one .tar.gz "
        "archive, for import_backup, readable by its owner alone (mode 0600). API tokens are not exported: they "
        "are secrets; make new ones after a restore."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the archive to write, e.g. backup.tar.gz (replaced if it exists)")

    def handle(self, *args, path, **options):
        try:
            counts = backup_export(path=path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Exported {counts['users']} users, {counts['predictions']} predictions ({counts['images']} images), "
            f"{counts['conversations']} conversations ({counts['messages']} messages) to {path}."
        )
