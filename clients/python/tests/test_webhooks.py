"""verify_webhook against a fixed Standard Webhooks 1.0 vector.

The vector is the example of the Standard Webhooks specification, recomputed
independently of this package with:

    key=$(echo -n MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p -c 100)
    printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' \\
      | openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
    # g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
"""

from __future__ import annotations

import unittest

from sessiond import WebhookVerificationError, verify_webhook
from sessiond.webhooks import sign_webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ID, TS, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(sig=SIG, ts=TS, msg_id=ID):
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


class VerifyWebhook(unittest.TestCase):
    def test_the_fixed_vector(self):
        self.assertEqual(sign_webhook(SECRET, ID, TS, BODY), SIG)
        self.assertEqual(verify_webhook(SECRET, headers(), BODY, now=TS + 10), {"test": 2432232314})

    def test_header_names_in_any_case_and_a_wsgi_environ(self):
        h = {"Webhook-Id": ID, "WEBHOOK-TIMESTAMP": str(TS), "Webhook-Signature": SIG}
        self.assertEqual(verify_webhook(SECRET, h, BODY, now=TS), {"test": 2432232314})
        environ = {"HTTP_WEBHOOK_ID": ID, "HTTP_WEBHOOK_TIMESTAMP": str(TS), "HTTP_WEBHOOK_SIGNATURE": SIG}
        self.assertEqual(verify_webhook(SECRET, environ, BODY, now=TS), {"test": 2432232314})

    def test_one_of_several_signatures_is_enough(self):
        other = sign_webhook("whsec_" + "QUJD" * 8, ID, TS, BODY)
        for sig in (f"{other} {SIG}", f"{SIG} {other}", f"v2,abc {SIG}", f"v1,!!! {SIG}"):
            with self.subTest(sig=sig):
                self.assertEqual(verify_webhook(SECRET, headers(sig), BODY, now=TS), {"test": 2432232314})

    def test_refusals(self):
        cases = {
            "another body": (headers(), b'{"test": 2432232315}', TS),
            "another id": (headers(msg_id="msg_other"), BODY, TS),
            "another timestamp": (headers(ts=TS + 1), BODY, TS),
            "too old": (headers(), BODY, TS + 301),
            "from the future": (headers(), BODY, TS - 301),
            "wrong secret's signature": (headers(sign_webhook("whsec_" + "QUJD" * 8, ID, TS, BODY)), BODY, TS),
            "only an unknown version": (headers("v1a," + SIG[3:]), BODY, TS),
            "no signature": ({"webhook-id": ID, "webhook-timestamp": str(TS)}, BODY, TS),
            "empty headers": ({}, BODY, TS),
            "timestamp not a number": (headers(ts="16142653e0"), BODY, TS),
            "a NUL and invalid UTF-8": (headers("v1,\x00\xff"), b"\xff\x00", TS),
        }
        for name, (h, body, now) in cases.items():
            with self.subTest(name), self.assertRaises(WebhookVerificationError):
                verify_webhook(SECRET, h, body, now=now)

    def test_tolerance_is_inclusive_and_configurable(self):
        verify_webhook(SECRET, headers(), BODY, now=TS + 300)
        verify_webhook(SECRET, headers(), BODY, now=TS + 3000, tolerance=3600)
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(SECRET, headers(), BODY, now=TS + 61, tolerance=60)

    def test_a_bad_secret_is_a_programming_error(self):
        for secret in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64"):
            with self.subTest(secret=secret), self.assertRaises(ValueError) as cm:
                verify_webhook(secret, headers(), BODY, now=TS)
            self.assertNotIsInstance(cm.exception, WebhookVerificationError)


if __name__ == "__main__":
    unittest.main()
