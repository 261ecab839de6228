"""Signing interoperates byte for byte with PROTOCOL.md's test vectors."""

import json
import os
import subprocess
import tempfile
import unittest

from authority_fixture import TEST_KEY, TEST_PUB, VECTORS, decode_envelope, openssl_verify
from jitauthority import signing, validate


def vector(name):
    with open(os.path.join(VECTORS, name), "rb") as f:
        return f.read()


class VectorTests(unittest.TestCase):
    def test_signing_the_vector_payload_gives_the_vector_signature(self):
        signer = signing.Signer(TEST_KEY, "authority-test")
        self.addCleanup(signer.close)
        self.assertEqual(signer.sign(vector("payload.json")), vector("payload.sig"))

    def test_envelope_matches_the_vector_envelope(self):
        signer = signing.Signer(TEST_KEY, "authority-test")
        self.addCleanup(signer.close)
        ours = json.loads(signer.envelope(vector("payload.json")))
        self.assertEqual(ours, json.loads(vector("envelope.json")))

    def test_canonical_encoding_reproduces_the_vector_payload_bytes(self):
        payload = vector("payload.json")
        self.assertEqual(validate.encode_canonical(json.loads(payload)), payload)

    def test_vector_grants_pass_our_grant_validation_unchanged(self):
        payload = json.loads(vector("payload.json"))
        for grant in payload["grants"]:
            self.assertEqual(list(validate.validate_grant(grant).items()), list(grant.items()))

    def test_verify_accepts_the_vector_and_rejects_the_tampered_envelope(self):
        _, payload, sig = decode_envelope(vector("envelope.json"))
        self.assertTrue(signing.verify(TEST_PUB, payload, sig))
        self.assertTrue(openssl_verify(payload, sig))
        _, tampered, tsig = decode_envelope(vector("envelope-tampered.json"))
        self.assertFalse(signing.verify(TEST_PUB, tampered, tsig))
        self.assertFalse(openssl_verify(tampered, tsig))


class KeyTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_generated_key_pair_signs_and_verifies(self):
        signing.generate_key_pair(self.path("k.pem"), self.path("k.pub"))
        self.assertEqual(os.stat(self.path("k.pem")).st_mode & 0o777, 0o600)
        signer = signing.Signer(self.path("k.pem"), "fresh")
        self.addCleanup(signer.close)
        sig = signer.sign(b"hello")
        self.assertEqual(len(sig), 64)
        self.assertTrue(signing.verify(self.path("k.pub"), b"hello", sig))
        self.assertFalse(signing.verify(self.path("k.pub"), b"hellO", sig))
        self.assertFalse(signing.verify(TEST_PUB, b"hello", sig))

    def test_a_key_that_is_not_ed25519_is_refused(self):
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", self.path("ec.pem")], check=True, capture_output=True)
        with self.assertRaisesRegex(signing.SigningError, "not an Ed25519 key"):
            signing.Signer(self.path("ec.pem"), "ec")

    def test_missing_key_and_bad_key_id_are_refused(self):
        with self.assertRaisesRegex(signing.SigningError, "no such file"):
            signing.Signer(self.path("missing.pem"), "x")
        with self.assertRaisesRegex(signing.SigningError, "key id"):
            signing.Signer(TEST_KEY, "bad key id")
        with open(self.path("garbage.pem"), "w") as f:
            f.write("not a key\n")
        with self.assertRaises(signing.SigningError):
            signing.Signer(self.path("garbage.pem"), "x")


if __name__ == "__main__":
    unittest.main()
