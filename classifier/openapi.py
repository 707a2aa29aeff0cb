"""The OpenAPI 3.1 description of the JSON API, served at /api/v1/openapi.json."""

from django.conf import settings

from classifier.class_names import SHOWN_LABELS
from mlcore.labels import CLASSES

_ERROR = {"$ref": "#/components/schemas/Error"}


def _response(description, schema=_ERROR):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_EXPLAIN = {"name": "explain", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}
_ERRORS = {
    "400": _response("A query parameter outside what this description allows (the message says which)."),
    "401": _response("Missing, unknown or revoked API token."),
    "404": _response("No such prediction among the caller's own."),
}
# Answered by the HTTP server before the site sees the request (gunicorn's limit is 4,094 bytes), so not as JSON.
_TOO_LONG = {"414": {"description": "The request's URL is longer than the server reads."}}

_PREDICTION = {
    "type": "object",
    "required": ["id", "label", "confidence", "top_k", "model_version", "image_url", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "label": {"type": "string", "enum": list(CLASSES)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "Calibrated probability."},
        "none_of_the_classes": {
            "type": "boolean",
            "description": "The photo fits none of the ten classes well; label is then only the closest.",
        },
        "verdict": {
            "type": "string",
            "description": "What the site shows: the class, or 'Not one of the ten classes'.",
        },
        "none_because": {
            "type": "array",
            "description": "Why it is none of the ten: the conditions of the model's rule that held. `other`: the "
            "expert put more than `above` of its answer outside the ten classes; `unlike_training`: the expert's "
            "own test found the image unlike its training images.",
            "items": {
                "type": "object",
                "properties": {
                    "expert": {"type": "string"},
                    "signal": {"type": "string", "enum": ["other", "unlike_training"]},
                    "above": {"type": "number"},
                },
            },
        },
        "rule_case": {"type": "string", "description": "Which of the model's cases answered (by the photo's size)."},
        "experts": {
            "type": "array",
            "description": "What each network of the model said; `probabilities` over the ten sum to 1 - `other`.",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "network": {"type": "string"},
                    "trained_on": {"type": "string"},
                    "weight": {"type": "number"},
                    "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
                    "other": {"type": ["number", "null"]},
                    "unlike_training": {"type": ["boolean", "null"]},
                    "square": {"type": "integer", "description": "The side of the square it saw, in pixels."},
                },
            },
        },
        "heat_map": {
            "type": ["object", "null"],
            "description": "With ?explain=1: which regions drove the label (cells 0-1 over the photo's centre square); "
            "null when the model version that made the prediction is gone. One prediction's answer (and an upload's) "
            "makes it; a list gives only those made before, with cells null for the others: fetch their "
            "heat_map_url.",
            "properties": {
                "cells": {"type": ["array", "null"], "items": {"type": "array", "items": {"type": "number"}}},
                "image_url": {"type": "string", "format": "uri"},
            },
        },
        "heat_map_url": {
            "type": "string",
            "format": "uri",
            "description": "This prediction with ?explain=1: its heat map, made if it was not yet.",
        },
        "top_k": {
            "type": "array",
            "description": "All ten classes, highest probability first.",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "enum": list(CLASSES)},
                    "probability": {"type": "number"},
                },
            },
        },
        "model_version": {"type": "string"},
        "image_url": {"type": "string", "format": "uri", "description": "Needs the same bearer token."},
        "created_at": {"type": "string", "format": "date-time"},
        "original_name": {"type": "string"},
        "content_type": {"type": "string"},
        "size_bytes": {"type": "integer"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "sha256": {"type": "string"},
        "inference_ms": {"type": "number"},
        "review_status": {"type": "string", "enum": ["pending", "confirmed", "corrected"]},
        "reviewed_label": {
            "type": ["string", "null"],
            "enum": [*SHOWN_LABELS, None],
            "description": "What staff settled on: what the site showed when they confirmed it (its class, or `none` "
            "for 'Not one of the ten classes'), their correction (a class, or `none`) when they corrected it; null "
            "until they review it.",
        },
        "feedback_label": {
            "type": ["string", "null"],
            "enum": [*SHOWN_LABELS, None],
            "description": "What the owner said the photo really shows, when they said the answer is wrong (on the "
            "prediction's page or with POST /predictions/{id}/feedback): a class, or `none` for none of the ten; "
            "null when they said nothing or withdrew it.",
        },
    },
}


_FEEDBACK_BODY = {
    "type": "object",
    "required": ["label"],
    "additionalProperties": False,
    "properties": {
        "label": {
            "type": "string",
            "enum": list(SHOWN_LABELS),
            "description": "The class the photo really shows, or `none`: none of the ten. Not the predicted class.",
        }
    },
}
_UPDATED = _response("The prediction, with the caller's feedback_label", {"$ref": "#/components/schemas/Prediction"})


def _limit_text(kind: str) -> str:
    """A per-user limit as this site sets it (0 is none)."""
    if kind == "MB":
        limit, name = settings.UPLOAD_QUOTA_BYTES // 2**20, "UPLOAD_QUOTA_MB"
    else:
        limit, name = settings.UPLOADS_PER_HOUR, "UPLOADS_PER_HOUR"
    return f"{name}: {limit} on this site" if limit > 0 else f"{name}: none set on this site"


def openapi_description(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Classifier API",
            "version": "1",
            "description": "Classify photos into the ten CIFAR-10 classes. Create a token on the API tokens page "
            "or with `python manage.py api_token USERNAME`.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Prediction": _PREDICTION,
            },
        },
        "paths": {
            "/predictions": {
                "post": {
                    "summary": "Classify and store one or more images",
                    "parameters": [_EXPLAIN],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["image"],
                                    "properties": {
                                        "image": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": settings.MAX_UPLOAD_FILES,
                                            "items": {"type": "string", "format": "binary"},
                                            "description": "JPEG, PNG, WebP, GIF, BMP or HEIC, each a part with a "
                                            f"filename; {settings.MAX_UPLOAD_BYTES // 2**20} MB each at most.",
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _response(
                            "Stored; files that could not be classified are listed under errors.",
                            {
                                "type": "object",
                                "properties": {
                                    "predictions": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Prediction"},
                                    },
                                    "errors": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        ),
                        "400": _response(
                            "No image field, no file an accepted, decodable image within the pixel limit, too many "
                            "fields, or a query parameter outside this description."
                        ),
                        "401": _ERRORS["401"],
                        "413": _response(
                            f"Every file was over {settings.MAX_UPLOAD_BYTES // 2**20} MB, or the whole request over "
                            f"{settings.MAX_REQUEST_BYTES // 2**20} MB (refused before it is read), or every file was "
                            f"over the room left in the caller's quota of photos kept ({_limit_text('MB')})."
                        ),
                        "429": {
                            **_response(
                                f"Over the caller's images in a rolling hour ({_limit_text('uploads')}); nothing was "
                                "stored. Retry-After says when one more is allowed."
                            ),
                            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
                        },
                        "503": _response("The classifier is unavailable."),
                        "507": _response("The server had no room to store the files; nothing was saved."),
                    }
                    | _TOO_LONG,
                },
                "get": {
                    "summary": "The caller's own predictions, newest first",
                    "parameters": [
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {
                            "name": "page_size",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        },
                        {
                            "name": "label",
                            "in": "query",
                            "description": "Only the predictions shown as this class (not those shown as none of the "
                            "ten, whatever their closest class), or, with `none`, only those shown as none of the ten.",
                            "schema": {"type": "string", "enum": list(SHOWN_LABELS)},
                        },
                        _EXPLAIN,
                    ],
                    "responses": {
                        "200": _response(
                            "One page",
                            {
                                "type": "object",
                                "properties": {
                                    "count": {"type": "integer"},
                                    "page": {"type": "integer"},
                                    "pages": {"type": "integer"},
                                    "next": {"type": ["string", "null"]},
                                    "previous": {"type": ["string", "null"]},
                                    "predictions": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Prediction"},
                                    },
                                },
                            },
                        ),
                        "400": _ERRORS["400"],
                        "401": _ERRORS["401"],
                        "404": _response("No such page (beyond the last)."),
                    }
                    | _TOO_LONG,
                },
            },
            "/predictions/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "get": {
                    "summary": "One of the caller's predictions",
                    "parameters": [_EXPLAIN],
                    "responses": {"200": _response("The prediction", {"$ref": "#/components/schemas/Prediction"})}
                    | _ERRORS
                    | _TOO_LONG,
                },
                "delete": {
                    "summary": "Delete one of the caller's predictions and its image",
                    "responses": {"204": {"description": "Deleted"}} | _ERRORS | _TOO_LONG,
                },
            },
            "/predictions/{id}/feedback": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "post": {
                    "summary": "Say the answer is wrong: what the photo really shows (as the prediction's page does)",
                    "description": "Staff see it among the disputed predictions until they review it. Saying it "
                    "again replaces what was said.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _FEEDBACK_BODY}}},
                    "responses": {
                        "200": _UPDATED,
                        "400": _response(
                            "The body is not JSON, not an object with exactly one field `label`, or the label is not "
                            "one of the classes or `none` (the message lists them)."
                        ),
                        "401": _ERRORS["401"],
                        "404": _ERRORS["404"],
                        "409": _response("The label is the class the model gave: there is nothing to dispute."),
                        "413": _response(
                            "The body is larger than the server reads "
                            f"({settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20:g} MB)."
                        ),
                        "415": _response("The body is not sent as application/json."),
                    }
                    | _TOO_LONG,
                },
                "delete": {
                    "summary": "Withdraw what the caller said of the answer",
                    "responses": {"200": _UPDATED, "401": _ERRORS["401"], "404": _ERRORS["404"]} | _TOO_LONG,
                },
            },
        },
    }
