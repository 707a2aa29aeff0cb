"""What every fuzz target shares: the site's settings in a throwaway folder, and atheris started on one function.

Each target is run as `python fuzz/<target>.py [libFuzzer flags] CORPUS...`; `fuzz/run.py` (make fuzz) runs them
all with the limits of issue 19: two seconds an input, 1 GB of memory.
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.mkdtemp(prefix="fuzz-"))
# The code whose branches guide the fuzzer: the site's own, and the libraries that parse what a visitor sends.
INSTRUMENTED = ["classifier", "mlcore", "chat", "PIL", "django.http", "django.core.files", "markdown_it", "tarfile"]


def start_django(*, database: bool) -> None:
    """The test settings, with a fresh SQLite file and media folder in a temporary folder (migrated if asked)."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "classifier_site.settings.test"
    os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'db.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(SCRATCH / "media")
    # One user sends every input: the per-user limits would soon answer 429 before the upload path is reached.
    os.environ["UPLOADS_PER_HOUR"] = os.environ["UPLOAD_QUOTA_MB"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import django

    with atheris.instrument_imports(include=INSTRUMENTED):
        django.setup()
        import chat.markdown  # noqa: F401
        import classifier.backup  # noqa: F401
        import classifier.images  # noqa: F401 - instrumented now: nothing imports Pillow before this
        import classifier.services  # noqa: F401
    if database:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def fuzz(test_one_input) -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def seed_image() -> bytes:
    """A small real JPEG of the committed image seeds, for the rows a target saves before it starts."""
    return (ROOT / "fuzz" / "corpus" / "image_intake" / "rotated-6.jpg").read_bytes()
