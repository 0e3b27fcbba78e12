#!/usr/bin/python3
"""Verifies an orgd access token as another service would: PyJWT's
PyJWKClient fetches orgd's JWK Set from its URL and picks the key by the
token's kid; the token must be ES256, issued by ISSUER, and not expired.
Nothing of orgd's code is used. Run by test_signing_keys.c.

usage: verify_jwks.py JWKS_URL TOKEN [ISSUER]

Prints one line and exits: 0 "verified kid=... sub=..." ; 3 "no key ..."
(the JWK Set has no key with the token's kid); 1 "refused ..." (any other
failure: signature, claims, fetch)."""
import sys

import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientError


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: verify_jwks.py JWKS_URL TOKEN [ISSUER]")
        return 2
    url, token = sys.argv[1], sys.argv[2]
    issuer = sys.argv[3] if len(sys.argv) == 4 else "orgd"
    # a fresh client each run: no JWK Set cached from an earlier run
    client = PyJWKClient(url, cache_keys=False)
    kid = jwt.get_unverified_header(token).get("kid")
    try:
        key = client.get_signing_key_from_jwt(token)
    except PyJWKClientError as e:
        print("no key for kid=%s: %s" % (kid, e))
        return 3
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "sub"], "verify_exp": True},
        )
    except jwt.PyJWTError as e:
        print("refused kid=%s: %s: %s" % (kid, type(e).__name__, e))
        return 1
    print("verified kid=%s sub=%s" % (kid, claims["sub"]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a fetch that failed, a token that is not one
        print("refused: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
