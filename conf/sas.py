"""Shared access signature (SAS) tokens: signed here for clients, checked with the same code by the emulator.

A token reads ``SharedAccessSignature sr=<audience>&sig=<signature>&se=<expiry>&skn=<key name>``; the
signature is ``base64(HMAC-SHA256(key, quote_plus(audience) + "\\n" + se))``, ``se`` the expiry in Unix
seconds, as the azure-eventhub SDK's `generate_sas_token` signs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus, urlencode

TOKEN_PREFIX = "SharedAccessSignature "


def make_sas_token(audience: str, key_name: str, key: str, expires_at: int) -> str:
    """Sign a token for `audience` with the policy `key_name`'s `key`, valid until `expires_at`."""
    signature = sign(key, quote_plus(audience), str(int(expires_at)))
    fields = {"sr": audience, "sig": signature, "se": str(int(expires_at)), "skn": key_name}
    return TOKEN_PREFIX + urlencode(fields)


def sign(key: str, encoded_audience: str, se: str) -> str:
    """The signature of an (already URL-encoded) audience and expiry."""
    digest = hmac.new(key.encode("utf-8"), f"{encoded_audience}\n{se}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
