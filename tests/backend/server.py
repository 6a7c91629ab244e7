#!/usr/bin/python3
# A real HTTPS licensing backend for aicd's tests, on loopback: its own test
# CA and server certificate, an Ed25519 issuer key, license keys, a token
# endpoint (HTTP Basic with the api_key), an organisation token service
# (Bearer), authorization with revocation, usage reports and an OTLP metrics
# sink; and, on command, every way a server can fail. Run it with Debian's
# /usr/bin/python3 (it needs the `cryptography` module). See README.md.
"""usage:
  server.py init DIR
      creates DIR/ca.pem (trust this), DIR/server.{pem,key}, DIR/issuer.pem
      (public key for aicd's issuer_public_key), DIR/issuer.key, DIR/secret
      and DIR/org-token (the bearer of the organisation token service)
  server.py license DIR USER [--exp UNIX] [--version V] [--unsigned]
      prints a license key for USER (user_...) signed by DIR's issuer key
  server.py jwt DIR USER [--ttl S] [--exp UNIX] [--iat UNIX] [--other-key]
      prints a JWT for USER (--other-key: signed by a key aicd does not trust)
  server.py api-key DIR USER
      prints USER's api_key
  server.py serve DIR [--port N] [--port-file F]
      serves HTTPS on 127.0.0.1 (port 0: any; the port is written to F);
      DIR is initialised first when empty
  server.py ctl DIR PORT JSON|stats
      sends a control command (see README.md), or asks for the counters,
      and prints the answer
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ENDPOINTS = ("tokens", "org", "authorize", "usage", "metrics")
FAIL_MODES = (
    "500", "503", "429", "401", "403", "404", "timeout", "slow", "endless", "huge", "malformed",
    "content-type", "wrong-types", "bad-token", "expired-token", "past", "empty", "reset", "denied",
)


# ---------------------------------------------------------------- keys and credentials

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def write(path, data, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def init_dir(d):
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, "issuer.key")):
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aicd test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
           .issuer_name(ca_name).public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1))
           .not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.SubjectAlternativeName([
               x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
               x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                          critical=False)
           .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    write(os.path.join(d, "ca.pem"), ca.public_bytes(pem), 0o644)
    write(os.path.join(d, "server.pem"), srv.public_bytes(pem), 0o644)
    write(os.path.join(d, "server.key"), srv_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    issuer = ed25519.Ed25519PrivateKey.generate()
    write(os.path.join(d, "issuer.pem"), issuer.public_key().public_bytes(
        pem, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    write(os.path.join(d, "secret"), secrets.token_hex(32))
    write(os.path.join(d, "org-token"), "org_" + secrets.token_urlsafe(24) + "\n")
    # Last: its presence marks the folder as complete.
    write(os.path.join(d, "issuer.key"), issuer.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Keys:
    def __init__(self, d):
        self.dir = d
        with open(os.path.join(d, "issuer.key"), "rb") as f:
            self.issuer = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(d, "secret")) as f:
            self.secret = f.read().strip().encode()
        with open(os.path.join(d, "org-token")) as f:
            self.org_token = f.read().strip()

    def api_key(self, user):
        mac = hmac.new(self.secret, user.encode(), hashlib.sha256).hexdigest()[:32]
        return f"ak_{b64url(user.encode())}_{mac}"

    def user_of_api_key(self, key):
        try:
            _, u, mac = key.split("_", 2)
            user = b64url_decode(u).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return user if hmac.compare_digest(self.api_key(user), key) else None

    def license(self, user, exp=None, version="2", signed=True):
        claims = {"user": user, "version": version, "api_key": self.api_key(user)}
        if exp is not None:
            claims["exp"] = exp
        payload = base64.b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
        key = self.issuer if signed else ed25519.Ed25519PrivateKey.generate()
        return payload + "." + b64url(key.sign(payload.encode()))

    def jwt(self, user, ttl=60, exp=None, iat=None, other_key=False):
        now = int(time.time())
        claims = {"sub": user, "iss": "aicd-test-backend", "iat": now if iat is None else iat,
                  "exp": now + ttl if exp is None else exp, "jti": secrets.token_hex(8)}
        head = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT"}, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        key = ed25519.Ed25519PrivateKey.generate() if other_key else self.issuer
        return f"{head}.{body}." + b64url(key.sign(f"{head}.{body}".encode()))

    def verify(self, cred):
        """(user, exp or None) of a license key or JWT signed by the issuer, or None."""
        pub = self.issuer.public_key()
        try:
            parts = cred.split(".")
            if len(parts) == 2:
                pub.verify(b64url_decode(parts[1]), parts[0].encode())
                claims = json.loads(base64.b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
                if claims.get("api_key") != self.api_key(claims.get("user", "")):
                    return None
                return claims["user"], claims.get("exp")
            if len(parts) == 3:
                pub.verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode())
                claims = json.loads(b64url_decode(parts[1]))
                return claims["sub"], claims["exp"]
        except Exception:  # any malformed credential is simply not valid
            return None
        return None


# ---------------------------------------------------------------- the server

class State:
    def __init__(self, keys):
        self.keys = keys
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.token_ttl = 60
        self.auth_ttl = 60
        self.org_user = "user_org"
        self.revoked = set()
        self.fail = {}  # endpoint -> [mode, remaining count (-1: until cleared)]
        self.counts = {e: 0 for e in ENDPOINTS}
        self.ok = {e: 0 for e in ENDPOINTS}
        self.failed = {e: 0 for e in ENDPOINTS}
        self.usage_sums = {"seconds_processed": 0.0, "seconds_bypassed": 0.0, "seconds_disallowed": 0.0}
        self.usage_last = None
        self.metrics_last = None
        self.violations = []  # what the daemon must never do (secrets in bodies, ...)

    def take_failure(self, endpoint):
        with self.lock:
            for key in (endpoint, "all"):
                f = self.fail.get(key)
                if not f:
                    continue
                mode, left = f
                if left == 0:
                    continue
                if left > 0:
                    f[1] = left - 1
                self.failed[endpoint] += 1
                return mode
        return None

    def stats(self):
        with self.lock:
            return {"counts": dict(self.counts), "ok": dict(self.ok), "failed": dict(self.failed),
                    "usage_sums": dict(self.usage_sums), "usage_last": self.usage_last,
                    "metrics_last": self.metrics_last, "revoked": sorted(self.revoked),
                    "fail": {k: v[:] for k, v in self.fail.items()}, "violations": list(self.violations),
                    "token_ttl": self.token_ttl, "auth_ttl": self.auth_ttl}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aicd-test-backend"
    timeout = 30

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    @property
    def st(self):
        return self.server.state

    def send_json(self, status, obj, ctype="application/json", extra=None):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # One request per connection: a client never meets a connection the
        # server closed earlier, so an injected reset always shows.
        self.send_header("Connection", "close")
        self.close_connection = True
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def bearer(self):
        a = self.headers.get("Authorization", "")
        return a[7:] if a.startswith("Bearer ") else None

    def basic_user(self):
        a = self.headers.get("Authorization", "")
        if not a.startswith("Basic "):
            return None
        try:
            user, sep, password = base64.b64decode(a[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if sep and password == "" else None

    def violation(self, what):
        with self.st.lock:
            self.st.violations.append(what)
        self.log_message("VIOLATION: %s", what)

    # Failure injection: True when a failure was served instead.
    def injected(self, endpoint):
        mode = self.st.take_failure(endpoint)
        if mode is None:
            return False
        self.log_message("injecting failure '%s' on %s", mode, endpoint)
        self.close_connection = True
        if mode in ("500", "503", "401", "403", "404"):
            self.send_json(int(mode), {"error": "injected"})
        elif mode == "429":
            self.send_json(429, {"error": "slow down"}, extra={"Retry-After": "1"})
        elif mode == "timeout":
            self.st.stop.wait(120)
        elif mode == "slow":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(120):
                if self.st.stop.wait(1):
                    break
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    break
        elif mode == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"token": "')
            chunk = b"A" * 65536
            try:
                while not self.st.stop.is_set():
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif mode == "huge":
            self.send_json(200, {"token": "A" * (1 << 20), "expires_at": int(time.time()) + 60,
                                 "authorized": True, "valid_until": int(time.time()) + 60})
        elif mode == "malformed":
            self.send_json(200, b'{"token": "eyJ", "expires_at": 17')
        elif mode == "content-type":
            self.send_json(200, self.good_answer(endpoint), ctype="text/html")
        elif mode == "wrong-types":
            self.send_json(200, {"token": 12345, "expires_at": "soon", "authorized": "yes",
                                 "valid_until": "later"})
        elif mode == "bad-token":
            self.send_json(200, {"token": self.st.keys.jwt("user_evil", other_key=True),
                                 "expires_at": int(time.time()) + 60})
        elif mode == "expired-token":
            self.send_json(200, {"token": self.st.keys.jwt("user_late", exp=int(time.time()) - 10,
                                                           iat=int(time.time()) - 70),
                                 "expires_at": int(time.time()) - 10})
        elif mode == "past":
            self.send_json(200, {"authorized": True, "valid_until": int(time.time()) - 5})
        elif mode == "denied":
            self.send_json(200, {"authorized": False})
        elif mode == "empty":
            self.send_json(200, b"")
        elif mode == "reset":
            pass  # close without an answer
        return True

    def good_answer(self, endpoint):
        if endpoint in ("authorize",):
            return {"authorized": True, "valid_until": int(time.time()) + self.st.auth_ttl}
        return {"token": self.st.keys.jwt("user_x", ttl=self.st.token_ttl),
                "expires_at": int(time.time()) + self.st.token_ttl}

    def count(self, endpoint):
        with self.st.lock:
            self.st.counts[endpoint] += 1

    def ok(self, endpoint):
        with self.st.lock:
            self.st.ok[endpoint] += 1

    def mint_for(self, user):
        ttl = self.st.token_ttl
        tok = self.st.keys.jwt(user, ttl=ttl)
        self.ok("tokens" if user != self.st.org_user else "org")
        self.send_json(200, {"token": tok, "expires_at": json.loads(b64url_decode(tok.split(".")[1]))["exp"]})

    def do_GET(self):
        if self.path == "/_control/stats":
            return self.send_json(200, self.st.stats())
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        path = self.path.split("?")[0]
        if path == "/_control":
            return self.control(body)
        endpoint = {"/v1/sdk/tokens": "tokens", "/org/token": "org", "/v1/sdk/authorize": "authorize",
                    "/v1/sdk/usage": "usage", "/v1/metrics": "metrics"}.get(path)
        if endpoint is None:
            return self.send_json(404, {"error": "not found"})
        self.count(endpoint)
        if self.injected(endpoint):
            return
        getattr(self, "ep_" + endpoint)(body)

    def ep_tokens(self, body):
        api_key = self.basic_user()
        user = self.st.keys.user_of_api_key(api_key) if api_key else None
        if user is None:
            return self.send_json(401, {"error": "invalid api_key"})
        if user in self.st.revoked:
            return self.send_json(403, {"error": "revoked"})
        self.mint_for(user)

    def ep_org(self, body):
        tok = self.bearer()
        if tok is None or not hmac.compare_digest(tok, self.st.keys.org_token):
            return self.send_json(401, {"error": "invalid organisation credential"})
        if self.st.org_user in self.st.revoked:
            return self.send_json(403, {"error": "revoked"})
        self.mint_for(self.st.org_user)

    def check_secrets(self, body, cred):
        text = body.decode(errors="replace")
        v = self.st.keys.verify(cred) if cred else None
        if cred and cred in text:
            self.violation("a request body contains the bearer credential")
        if v and self.st.keys.api_key(v[0]) in text:
            self.violation("a request body contains the api_key")

    def ep_authorize(self, body):
        cred = self.bearer()
        self.check_secrets(body, cred)
        try:
            req = json.loads(body)
            ok = all(isinstance(req.get(k), str) and req[k] for k in ("sdk_version", "model_id", "os", "arch"))
        except ValueError:
            ok = False
        if not ok:
            self.violation("authorize body lacks sdk_version, model_id, os or arch")
            return self.send_json(400, {"error": "bad request"})
        v = self.st.keys.verify(cred) if cred else None
        if v is None:
            return self.send_json(401, {"error": "invalid credential"})
        user, exp = v
        if exp is not None and exp <= time.time():
            return self.send_json(401, {"error": "expired"})
        if user in self.st.revoked:
            return self.send_json(403, {"error": "revoked"})
        self.ok("authorize")
        self.send_json(200, {"authorized": True, "valid_until": int(time.time()) + self.st.auth_ttl})

    def ep_usage(self, body):
        cred = self.bearer()
        self.check_secrets(body, cred)
        v = self.st.keys.verify(cred) if cred else None
        if v is None:
            return self.send_json(401, {"error": "invalid credential"})
        if v[0] in self.st.revoked:
            return self.send_json(403, {"error": "revoked"})
        try:
            req = json.loads(body)
            nums = ("seconds_processed", "seconds_bypassed", "seconds_disallowed")
            ok = (set(req) == set(nums) | {"model_id", "sdk_version"} and
                  all(isinstance(req[k], (int, float)) and req[k] >= 0 for k in nums) and
                  isinstance(req["model_id"], str) and isinstance(req["sdk_version"], str))
        except (ValueError, TypeError, AttributeError):
            ok = False
        if not ok:
            self.violation("usage body is not exactly the contract's fields")
            return self.send_json(400, {"error": "bad request"})
        with self.st.lock:
            for k in self.st.usage_sums:
                self.st.usage_sums[k] += req[k]
            self.st.usage_last = req
        self.ok("usage")
        self.send_json(200, {"accepted": True})

    def ep_metrics(self, body):
        try:
            req = json.loads(body)
        except ValueError:
            self.violation("OTLP body is not JSON")
            return self.send_json(400, {"error": "bad request"})
        with self.st.lock:
            self.st.metrics_last = req
        self.ok("metrics")
        self.send_json(200, {"partialSuccess": {}})

    def control(self, body):
        try:
            cmd = json.loads(body)
        except ValueError:
            return self.send_json(400, {"error": "not JSON"})
        st = self.st
        with st.lock:
            if "fail" in cmd:
                f = cmd["fail"]
                ep, mode = f.get("endpoint", "all"), str(f.get("mode"))
                if ep not in ENDPOINTS + ("all",) or mode not in FAIL_MODES:
                    return self.send_json(400, {"error": "unknown endpoint or mode"})
                st.fail[ep] = [mode, int(f.get("count", -1))]
            if cmd.get("clear"):
                st.fail.clear()
            if "revoke" in cmd:
                st.revoked.add(cmd["revoke"])
            if "unrevoke" in cmd:
                st.revoked.discard(cmd["unrevoke"])
            if "token_ttl" in cmd:
                st.token_ttl = int(cmd["token_ttl"])
            if "auth_ttl" in cmd:
                st.auth_ttl = int(cmd["auth_ttl"])
            if "org_user" in cmd:
                st.org_user = cmd["org_user"]
            if cmd.get("reset_counts"):
                for d in (st.counts, st.ok, st.failed):
                    for k in d:
                        d[k] = 0
        self.send_json(200, st.stats())


def serve(args):
    init_dir(args.dir)
    keys = Keys(args.dir)
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    httpd.state = State(keys)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.dir, "server.pem"), os.path.join(args.dir, "server.key"))
    # The handshake runs in the request's thread, not in the accept loop.
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    port = httpd.server_address[1]
    if args.port_file:
        write(args.port_file + ".tmp", f"{port}\n", 0o644)
        os.rename(args.port_file + ".tmp", args.port_file)
    print(f"listening on https://127.0.0.1:{port} (CA {os.path.join(args.dir, 'ca.pem')})", file=sys.stderr,
          flush=True)

    def stop(*_):
        httpd.state.stop.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    httpd.serve_forever(poll_interval=0.1)
    httpd.server_close()


def ctl(args):
    ctx = ssl.create_default_context(cafile=os.path.join(args.dir, "ca.pem"))
    url = f"https://127.0.0.1:{args.port}/_control"
    if args.json == "stats":
        req = urllib.request.Request(url + "/stats")
    else:
        req = urllib.request.Request(url, data=args.json.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        print(r.read().decode())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("init")
    s.add_argument("dir")
    s = sub.add_parser("license")
    s.add_argument("dir")
    s.add_argument("user")
    s.add_argument("--exp", type=int)
    s.add_argument("--version", default="2")
    s.add_argument("--unsigned", action="store_true")
    s = sub.add_parser("jwt")
    s.add_argument("dir")
    s.add_argument("user")
    s.add_argument("--ttl", type=int, default=60)
    s.add_argument("--exp", type=int)
    s.add_argument("--iat", type=int)
    s.add_argument("--other-key", action="store_true")
    s = sub.add_parser("api-key")
    s.add_argument("dir")
    s.add_argument("user")
    s = sub.add_parser("serve")
    s.add_argument("dir")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--port-file")
    s = sub.add_parser("ctl")
    s.add_argument("dir")
    s.add_argument("port", type=int)
    s.add_argument("json")
    args = p.parse_args()

    if args.cmd == "init":
        init_dir(args.dir)
    elif args.cmd == "license":
        init_dir(args.dir)
        print(Keys(args.dir).license(args.user, args.exp, args.version, not args.unsigned))
    elif args.cmd == "jwt":
        init_dir(args.dir)
        print(Keys(args.dir).jwt(args.user, args.ttl, args.exp, args.iat, args.other_key))
    elif args.cmd == "api-key":
        print(Keys(args.dir).api_key(args.user))
    elif args.cmd == "serve":
        serve(args)
    elif args.cmd == "ctl":
        ctl(args)


if __name__ == "__main__":
    main()
