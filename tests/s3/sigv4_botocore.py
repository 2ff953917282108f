#!/usr/bin/python3
"""Prints the S3 PUT/GET vectors of tests/unit/test_sigv4.c as computed by
botocore's own S3 signer (Debian's python3-botocore), for a fixed time.

Not run by the tests: the vectors are pasted into test_sigv4.c so that the
unit test needs no Python. Rerun it by hand (with /usr/bin/python3) to check
them again:  /usr/bin/python3 tests/s3/sigv4_botocore.py"""
import base64
import datetime
import hashlib
import urllib.parse
from unittest import mock

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

WHEN = datetime.datetime(2026, 3, 14, 15, 9, 26)
CASES = [
    # name, method, endpoint, path (unencoded), body, extra headers, session token
    ("put-path-style", "PUT", "http://127.0.0.1:4569", "/jen1-test/songs/job-1.wav",
     b"RIFF....WAVEfmt ", {"Content-Type": "audio/wav", "Content-MD5": "x"}, None),
    ("put-virtual-host-token", "PUT", "https://jen1-audio.s3.eu-west-1.amazonaws.com",
     "/prefix/a b+c~d=e.flac", b"fLaC" * 100, {"Content-Type": "audio/flac", "Content-MD5": "x"},
     "FwoGZXIvYXdzEJr//////////wEaDExampleSessionToken+/=="),
    ("get-utf8-key", "GET", "http://localhost:9000", "/bucket/m\u00fcsic/\u1234.ogg", b"", {}, None),
]


def main():
    for name, method, endpoint, path, body, extra, token in CASES:
        headers = dict(extra)
        if "Content-MD5" in headers:
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        url = endpoint + urllib.parse.quote(path, safe="/~")
        creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        # botocore signs the payload over http; over https S3SigV4Auth would
        # send UNSIGNED-PAYLOAD unless told otherwise, and jen1 always signs it.
        request.context["payload_signing_enabled"] = True
        with mock.patch("botocore.auth.datetime") as dt:
            dt.datetime.utcnow.return_value = WHEN
            S3SigV4Auth(creds, "s3", "eu-west-1").add_auth(request)
        print(f"case {name}")
        print(f"  url {url}")
        for key, value in request.headers.items():
            print(f"  header {key}: {value}")
        print(f"  body-sha256 {hashlib.sha256(body).hexdigest()}")


if __name__ == "__main__":
    main()
