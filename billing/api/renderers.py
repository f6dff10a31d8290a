"""A JSON renderer for the endpoints whose responses hold only plain values (events, customers)."""

from rest_framework.renderers import JSONRenderer

from billing import jsontext


class FastJSONRenderer(JSONRenderer):
    """DRF's compact UTF-8 JSON, written by orjson (billing/jsontext.py). Only for payloads of
    strings, numbers, booleans, None, lists and dicts, which both libraries write alike."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return jsontext.dumps(data)
