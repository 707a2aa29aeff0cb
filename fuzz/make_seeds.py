"""Write the committed seed corpora under fuzz/corpus/ (run it again after changing it; the files are small).

.venv/bin/python fuzz/make_seeds.py
"""

import io
import shutil
import tarfile

import harness
from PIL import ExifTags, Image
from pillow_heif import register_heif_opener

register_heif_opener()

CORPUS = harness.ROOT / "fuzz" / "corpus"
BOUNDARY = b"fuzzboundary"  # the boundary api_multipart.py declares in its Content-Type


def tiny_image(image_format: str, mode: str = "RGB", size=(16, 12), orientation=None, gps=False, **options) -> bytes:
    bands = Image.getmodebands(mode)
    image = Image.new(mode, size, (200, 40, 40, 128)[:bands])
    image.paste((20, 90, 200, 255)[:bands], (2, 2, 8, 6))
    exif = Image.Exif()
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    if len(exif) or gps:
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def images() -> dict:
    frames = [Image.new("P", (12, 12), index) for index in (1, 5, 9)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=50, transparency=1)
    return {
        "rotated-6.jpg": tiny_image("JPEG", orientation=6, quality=70),
        "gps-rotated-8.jpg": tiny_image("JPEG", orientation=8, gps=True, quality=70),
        "grey-progressive.jpg": tiny_image("JPEG", mode="L", progressive=True),
        "cmyk.jpg": tiny_image("JPEG", mode="CMYK"),
        "transparent.png": tiny_image("PNG", mode="RGBA"),
        "gps.png": tiny_image("PNG", gps=True),
        "palette.png": tiny_image("PNG", mode="P", transparency=3),
        "sixteen-bit.png": tiny_image("PNG", mode="I;16"),
        "lossy.webp": tiny_image("WEBP", quality=50),
        "gps-lossless.webp": tiny_image("WEBP", mode="RGBA", lossless=True, gps=True),
        "animated.gif": animated.getvalue(),
        "plain.bmp": tiny_image("BMP", size=(6, 4)),
        "palette.bmp": tiny_image("BMP", mode="P", size=(6, 4)),
        "gps.heic": tiny_image("HEIF", gps=True, quality=50),
    }


def multipart(*parts) -> bytes:
    """A request body of (headers, content) parts, as a browser or curl would send it."""
    body = b""
    for headers, content in parts:
        body += b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + BOUNDARY + b"--\r\n"


def image_part(name: bytes, content: bytes, content_type: bytes = b"image/jpeg", field: bytes = b"image"):
    disposition = b'Content-Disposition: form-data; name="' + field + b'"; filename="' + name + b'"'
    return disposition + b"\r\nContent-Type: " + content_type, content


def multipart_bodies(seed_images: dict) -> dict:
    import base64

    jpeg, png = seed_images["gps-rotated-8.jpg"], seed_images["transparent.png"]
    return {
        "one-jpeg": multipart(image_part(b"photo.jpg", jpeg)),
        "two-images": multipart(image_part(b"a.jpg", jpeg), image_part(b"b.png", png, b"image/png")),
        "image-and-text": multipart(
            image_part(b"x.svg", b"<svg/>", b"image/svg+xml"), (b'Content-Disposition: form-data; name="note"', b"hi")
        ),
        "no-filename": multipart((b'Content-Disposition: form-data; name="image"', b"not a file")),
        "base64-part": multipart(
            (
                b'Content-Disposition: form-data; name="image"; filename="b.png"\r\nContent-Transfer-Encoding: base64',
                base64.b64encode(png),
            )
        ),
        "utf8-filename": multipart(
            (
                b"Content-Disposition: form-data; name=image; filename*=UTF-8''%C3%A9t%C3%A9.gif",
                seed_images["animated.gif"],
            ),
        ),
        "empty": b"--" + BOUNDARY + b"--\r\n",
    }


MARKDOWN = {
    "links": b'[site](https://example.com "title") <mailto:a@example.com> <https://example.com/a?b=c&d>\n'
    b"[rel](/predictions/1) [bad](javascript:alert(1)) ![img](https://example.com/a.png)\n",
    "html": b"<script>alert(1)</script> <img src=x onerror=alert(1)> <a href='javascript:x'>x</a>\n\n"
    b"<div>block</div>\n",
    "blocks": b"# Title\n\n> quote\n\n1. one\n2. two\n\n- a\n- b\n\n```python\nprint('x')\n```\n\n"
    b"    indented\n\n---\n",
    "table": b"| a | b |\n|:--|--:|\n| `c` | **d** _e_ |\n",
    "references": b"[x][ref]\n\n[ref]: https://example.com 'T'\n\n&#106;avascript&colon;alert(1) &lt;b&gt;\n",
}


def backup_archives(seed_images: dict) -> dict:
    """Archives made by export_backup: the site the backup target starts from (alice's prediction and chat, bob),
    and another one (carol's PNG). Each also as a plain tar, which the importer reads too and a fuzzer can mutate."""
    harness.start_django(database=True)
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chat.models import Message
    from chat.services import conversation_create
    from classifier.backup import backup_export
    from classifier.services import prediction_create

    users = get_user_model().objects
    alice, bob = users.create_user("alice", password="x"), users.create_user("bob")
    photo = prediction_create(owner=alice, upload=SimpleUploadedFile("cat.jpg", seed_images["rotated-6.jpg"]))
    chat = conversation_create(owner=alice, prediction=photo)
    Message.objects.create(conversation=chat, role=Message.Role.USER, content="Why a cat?")
    Message.objects.create(conversation=chat, role=Message.Role.ASSISTANT, content="Ears.", model="m")
    conversation_create(owner=bob)
    seeds = {"site-exported.tar.gz": _export(backup_export)}
    users.all().delete()
    carol = users.create_user("carol")
    prediction_create(owner=carol, upload=SimpleUploadedFile("frog.png", seed_images["transparent.png"]))
    seeds["other-site-exported.tar.gz"] = _export(backup_export)
    plain = {name.replace("-exported.tar.gz", "-plain.tar"): _plain_tar(gz) for name, gz in seeds.items()}
    # The first byte tells the target how to read the rest (backup_import.py): 0 as it is, 1 gzipped first.
    return {
        **{name: b"\x00" + gz for name, gz in seeds.items()},
        **{name: b"\x00" + tar for name, tar in plain.items()},
        "site-gzipped-by-target": b"\x01" + plain["site-plain.tar"],
    }


def _export(backup_export) -> bytes:
    path = harness.SCRATCH / "seed.tar.gz"
    backup_export(path=path)
    return path.read_bytes()


def _plain_tar(gz: bytes) -> bytes:
    """The same members without compression, and without the zero blocks that pad a tar to 10 KB."""
    with tarfile.open(fileobj=io.BytesIO(gz), mode="r:gz") as archive:
        members = [(member, archive.extractfile(member).read()) for member in archive.getmembers()]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as plain:
        for member, content in members:
            plain.addfile(member, io.BytesIO(content))
        end = plain.offset
    return out.getvalue()[: end + 2 * tarfile.BLOCKSIZE]  # the two end-of-archive blocks, not 10 KB of padding


def write(target: str, seeds: dict) -> None:
    folder = CORPUS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, content in seeds.items():
        (folder / name).write_bytes(content)


def main() -> None:
    seed_images = images()
    write("image_intake", seed_images)
    write("api_multipart", multipart_bodies(seed_images))
    write("chat_markdown", MARKDOWN)
    write("backup_import", backup_archives(seed_images))


if __name__ == "__main__":
    main()
