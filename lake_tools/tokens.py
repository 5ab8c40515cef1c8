"""The catalog's bearer tokens: JWTs the stack signs per role, which Nessie verifies against a public key.

No identity provider has to run beside the stack: Nessie's Quarkus OIDC checks the signature, issuer and
expiry itself (no clock skew allowed), and takes the role from the token's `upn`; a missing, foreign or
expired token gets 401 with an empty body. A deployment with an identity provider
(Keycloak, ...) gives clients OAuth2 client credentials instead (LAKE_CATALOG__CREDENTIAL).
"""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lake.access import TOKEN_AUDIENCE, TOKEN_ISSUER

# Signed anew on every `lake stack up` / `lake compose up`; a year outlives any process that reads them.
LIFETIME_SECONDS = 365 * 24 * 3600


def new_signing_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key(signing_key: str) -> str:
    """The verification key as Quarkus OIDC takes it (`quarkus.oidc.public-key`): base64 DER, one line."""
    private = serialization.load_pem_private_key(signing_key.encode(), password=None)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sign(signing_key: str, role: str, lifetime_seconds: int = LIFETIME_SECONDS, now: float | None = None) -> str:
    import jwt

    issued = int(time.time() if now is None else now)
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": role,
        "upn": role,  # Nessie's principal, the `role` its authorization rules see
        "iat": issued,
        "exp": issued + lifetime_seconds,
    }
    return jwt.encode(claims, signing_key, algorithm="RS256")


def still_valid(token: str, signing_key: str, role: str, min_remaining_seconds: int = 30 * 24 * 3600) -> bool:
    """A token of `role` signed with this key, not expiring within `min_remaining_seconds`."""
    import jwt

    try:
        claims = jwt.decode(
            token, public_key_pem(signing_key), algorithms=["RS256"], audience=TOKEN_AUDIENCE, issuer=TOKEN_ISSUER
        )
    except jwt.PyJWTError:
        return False
    return bool(claims.get("upn") == role and claims["exp"] - time.time() > min_remaining_seconds)


def public_key_pem(signing_key: str) -> str:
    private = serialization.load_pem_private_key(signing_key.encode(), password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
