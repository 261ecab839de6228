"""Ed25519 signing and verification through the openssl command-line tool.

Ed25519 is deterministic, so signing the same bytes with the same key always
gives the same signature: protocol-vectors/payload.sig checks this byte for
byte. openssl's one-shot (-rawin) mode needs a real file, not a pipe, so the
bytes go through a private temporary directory.
"""

import base64
import os
import shutil
import subprocess
import tempfile

from .errors import AuthorityError
from .validate import KEY_ID_RE, encode_canonical

OPENSSL = os.environ.get("JIT_AUTHORITY_OPENSSL", "openssl")
SIGNATURE_BYTES = 64
_TIMEOUT = 10


class SigningError(Exception):
    pass


def _run(args, what):
    try:
        proc = subprocess.run([OPENSSL] + args, capture_output=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SigningError(f"{what}: cannot run {OPENSSL}: {e}") from e
    return proc


class _ScratchDir:
    """A 0700 directory for the files openssl reads; removed on close()."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="jit-authority-")

    def write(self, data):
        fd, path = tempfile.mkstemp(dir=self.path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def sign_file(key_path, data_path):
    proc = _run(["pkeyutl", "-sign", "-inkey", key_path, "-rawin", "-in", data_path], "sign")
    if proc.returncode != 0 or len(proc.stdout) != SIGNATURE_BYTES:
        raise SigningError(f"openssl could not sign with {key_path}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def verify(public_key_path, data, signature):
    """True when `signature` is a valid Ed25519 signature of `data`."""
    scratch = _ScratchDir()
    try:
        data_path = scratch.write(data)
        sig_path = scratch.write(signature)
        proc = _run(["pkeyutl", "-verify", "-pubin", "-inkey", public_key_path, "-rawin",
                     "-in", data_path, "-sigfile", sig_path], "verify")
        return proc.returncode == 0
    finally:
        scratch.close()


def public_key_pem(key_path):
    proc = _run(["pkey", "-in", key_path, "-pubout"], "public key")
    if proc.returncode != 0:
        raise SigningError(f"cannot read private key {key_path}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def generate_key_pair(private_path, public_path):
    """Writes a new Ed25519 private key (mode 0600) and its public key (0644)."""
    old_umask = os.umask(0o077)
    try:
        proc = _run(["genpkey", "-algorithm", "ed25519", "-out", private_path], "genpkey")
    finally:
        os.umask(old_umask)
    if proc.returncode != 0:
        raise SigningError(f"openssl genpkey failed: {proc.stderr.decode(errors='replace').strip()}")
    pem = public_key_pem(private_path)
    with open(public_path, "wb") as f:
        f.write(pem)
    os.chmod(public_path, 0o644)


def make_envelope(key_id, payload, signature):
    """The envelope of PROTOCOL.md §1, as bytes (compact JSON)."""
    return encode_canonical({
        "key_id": key_id,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signature": base64.b64encode(signature).decode("ascii"),
    })


class Signer:
    """Signs payloads with one Ed25519 private key, named by key_id."""

    def __init__(self, key_path, key_id):
        if not KEY_ID_RE.fullmatch(key_id or ""):
            raise SigningError(f"key id {key_id!r} must match ^[A-Za-z0-9._-]{{1,128}}$")
        if not os.path.isfile(key_path):
            raise SigningError(f"signing key {key_path}: no such file")
        self.key_path = key_path
        self.key_id = key_id
        self.public_pem = public_key_pem(key_path)
        if b"PUBLIC KEY" not in self.public_pem:
            raise SigningError(f"signing key {key_path}: not a private key openssl can read")
        self._scratch = _ScratchDir()
        self._check_key_is_ed25519()

    def _check_key_is_ed25519(self):
        proc = _run(["pkey", "-in", self.key_path, "-noout", "-text"], "key type")
        if proc.returncode != 0 or b"ED25519" not in proc.stdout.upper():
            raise SigningError(f"signing key {self.key_path}: not an Ed25519 key")

    def sign(self, payload):
        path = self._scratch.write(payload)
        try:
            return sign_file(self.key_path, path)
        finally:
            os.unlink(path)

    def envelope(self, payload):
        try:
            return make_envelope(self.key_id, payload, self.sign(payload))
        except SigningError as e:
            raise AuthorityError("internal_error", str(e)) from e

    def close(self):
        self._scratch.close()
