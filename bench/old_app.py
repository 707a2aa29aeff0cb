"""The baseline of bench_api.py: the model served the way the app this site replaces served it.

A bare WSGI handler that loads the Keras model at import and, per request, reads the multipart body, decodes the
photo, resizes it to the model's input size and calls `model.predict`. Nothing is stored. Run under gunicorn by
bench_api.py.
"""

import io
import json
import os
from email.parser import BytesParser
from email.policy import HTTP

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402

MODEL = keras.models.load_model(os.environ["OLD_APP_MODEL"])
CLASSES = json.loads(os.environ["OLD_APP_CLASSES"])
SIZE = MODEL.input_shape[1]


def application(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    header = f"Content-Type: {environ['CONTENT_TYPE']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    data = next(part.get_payload(decode=True) for part in message.iter_parts() if part.get_filename())
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((SIZE, SIZE))
    logits = MODEL.predict(np.asarray(image, dtype="float32")[None], verbose=0)[0]
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    best = int(np.argmax(probabilities))
    answer = json.dumps({"label": CLASSES[best], "confidence": float(probabilities[best])}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]
