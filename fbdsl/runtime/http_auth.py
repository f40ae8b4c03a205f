"""Credentials of the sidecar, and who may call what.

Three kinds of secret, each read from an environment variable (comma-separated) and/or a
file (one a line, `#` comments), never from the command line (where `ps` shows it):

- segment: /v1/track, /v1/identify, /v1/batch; Basic auth with the write key as the user
  name (as Segment and RudderStack clients send it); FBDSL_WRITE_KEYS, --write-keys-file;
- events: /v1/events; `Authorization: Bearer TOKEN`; FBDSL_TOKENS, --tokens-file;
- admin: /v1/mode, /v1/decisions; Bearer; FBDSL_ADMIN_TOKENS, --admin-tokens-file.

No or an unknown credential is 401 (with `WWW-Authenticate`); a valid credential of another
scope is 403. Secrets are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from pathlib import Path

import attrs

SEGMENT, EVENTS, ADMIN = "segment", "events", "admin"
ENV_VARS = {SEGMENT: "FBDSL_WRITE_KEYS", EVENTS: "FBDSL_TOKENS", ADMIN: "FBDSL_ADMIN_TOKENS"}


class CredentialsError(Exception):
    """A credentials file cannot be read, or holds nothing usable."""


@attrs.frozen
class Denied:
    status: int  # 401 or 403
    code: str
    message: str
    challenge: str | None  # the WWW-Authenticate value for a 401


@attrs.frozen
class Credentials:
    secrets: dict[str, tuple[str, ...]] = attrs.field(hash=False)  # scope -> secrets
    insecure: bool = False

    @property
    def empty(self) -> bool:
        return not any(self.secrets.values())

    def _scope_of(self, secret: str) -> str | None:
        found = None
        for scope, secrets in self.secrets.items():
            for candidate in secrets:
                if hmac.compare_digest(candidate.encode(), secret.encode()):
                    found = scope
        return found

    def check(self, authorization: str | None, scope: str) -> Denied | None:
        """None if the `Authorization` header value may call an endpoint of `scope`."""
        if self.insecure:
            return None
        scheme = "Basic" if scope == SEGMENT else "Bearer"
        challenge = f'{scheme} realm="fbdsl"'
        if not authorization:
            return Denied(401, "unauthorized", f"{scheme} authentication required", challenge)
        secret = _secret_of(authorization, scheme)
        if secret is None:
            return Denied(
                401,
                "unauthorized",
                f"expected 'Authorization: {scheme} ...' on this endpoint",
                challenge,
            )
        owner = self._scope_of(secret)
        if owner is None:
            what = "write key" if scope == SEGMENT else "token"
            return Denied(401, "unauthorized", f"unknown {what}", challenge)
        if owner != scope:
            return Denied(
                403,
                "forbidden",
                f"this credential is not allowed here (it is a "
                f"{owner} credential; this endpoint needs a {scope} one)",
                None,
            )
        return None


def _secret_of(header: str, scheme: str) -> str | None:
    given, _, value = header.strip().partition(" ")
    if given.lower() != scheme.lower() or not value.strip():
        return None
    value = value.strip()
    if scheme == "Bearer":
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, _password = decoded.partition(":")  # Segment: the write key is the user name
    return user or None


def _read_file(path: Path) -> list[str]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror or exc}") from None
    secrets = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    secrets = [secret for secret in secrets if secret]
    if not secrets:
        raise CredentialsError(f"{path} holds no secret (one a line; # starts a comment)")
    return secrets


def load_credentials(
    environ: Mapping[str, str], files: Mapping[str, Path | None], insecure: bool
) -> Credentials:
    """Secrets per scope from the environment variables and the files given."""
    secrets: dict[str, tuple[str, ...]] = {}
    for scope, variable in ENV_VARS.items():
        found = [s.strip() for s in environ.get(variable, "").split(",") if s.strip()]
        path = files.get(scope)
        if path is not None:
            found += _read_file(path)
        secrets[scope] = tuple(dict.fromkeys(found))
    every = [s for values in secrets.values() for s in values]
    if len(every) != len(set(every)):
        raise CredentialsError("one secret is given for two scopes: give each its own")
    return Credentials(secrets, insecure)
