"""What reading or writing a stored file can fail with, for the services and selectors that do it."""

from botocore.exceptions import BotoCoreError, ClientError

# The file system's OSError, or, with object storage (django-storages' S3Storage), botocore's errors for a bucket
# that is missing, refuses or cannot be reached.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


class StorageUnavailable(Exception):
    """Stored files cannot be read right now: a failing disk, or a bucket that refuses or cannot be reached."""
