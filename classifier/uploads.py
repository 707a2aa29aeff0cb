"""Upload limits enforced while the request body streams in, before anything reaches a view."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.utils.translation import gettext


class SizeLimitedUploadHandler(FileUploadHandler):
    """Stops receiving a file as soon as it passes MAX_UPLOAD_BYTES and notes its name on the request.

    It runs first in FILE_UPLOAD_HANDLERS and passes chunks on unchanged, so the files under the limit are kept
    by Django's usual memory and temporary-file handlers. Views report `request.oversize_uploads`.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.request.oversize_uploads = []

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            self.request.oversize_uploads.append(self.file_name or gettext("(unnamed file)"))
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler in the chain builds the file object
