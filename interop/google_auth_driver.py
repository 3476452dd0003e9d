"""Gets one access token with google-auth (Python) from an external_account config.

Driven by interop/tests/google_auth.rs, which runs it with the venv's python
(GOOGLE_AUTH_PYTHON, set by .ci/interop.sh) against the loopback emulators.

Usage: google_auth_driver.py CONFIG_PATH SCOPE [SCOPE ...]

Prints one JSON object on stdout: {"token", "expiry" (RFC 3339, UTC, or null),
"class", "google_auth_version"}. Errors go to stderr with a non-zero exit.

It builds the credentials with the class's own from_file and calls refresh()
once, which is what a client library does before its first API call. It does
not use google.auth.load_credentials_from_file / google.auth.default(): those
also look the project id up (one more refresh, then a Cloud Resource Manager
call), which is not part of getting a token.
"""

import json
import sys

import google.auth
import google.auth.transport.requests
from google.auth import aws, identity_pool

AWS4_REQUEST = "urn:ietf:params:aws:token-type:aws4_request"


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path, scopes = argv[1], argv[2:]
    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    cls = aws.Credentials if info.get("subject_token_type") == AWS4_REQUEST else identity_pool.Credentials
    creds = cls.from_file(path, scopes=scopes)

    request = google.auth.transport.requests.Request()
    creds.refresh(request)

    expiry = creds.expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if creds.expiry else None
    json.dump(
        {
            "token": creds.token,
            "expiry": expiry,
            "class": "{}.{}".format(cls.__module__, cls.__name__),
            "google_auth_version": google.auth.__version__,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
