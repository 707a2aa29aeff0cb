from django.core.management.base import BaseCommand, CommandError

from classifier.services import model_version_register
from mlcore.bundle import BundleError


class Command(BaseCommand):
    help = "Register a model bundle as a model version (staff activate versions in the admin, or --activate)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the bundle folder, as written by manage.py train")
        parser.add_argument("--activate", action="store_true", help="serve it from now on")

    def handle(self, *args, path, activate, **options):
        try:
            version = model_version_register(path=path, activate=activate)
        except (BundleError, OSError, ValueError) as error:
            raise CommandError(f"cannot register {path}: {error}") from error
        self.stdout.write(f"Registered {version.name}{' and activated it' if version.is_active else ''}.")
