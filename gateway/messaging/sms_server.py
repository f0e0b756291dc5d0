"""The embedded SMS and push provider of local mode, the demo and the tests: a small HTTP server
with the shape of Twilio's Messages API (gateway/messaging/sms.py is its client).

    python -m gateway.messaging.sms_server --port 8026 --dir <state>/sms --token <auth token>

``POST /2010-04-01/Accounts/<sid>/Messages.json`` checks HTTP Basic auth (the sid and the token) and
the body's ``X-Coalition-Signature`` (HMAC-SHA256 under the token), keeps the message as
``<dir>/<sid>.json`` and answers ``201 {"sid", "status": "queued"}``; a second request with the same
``Idempotency-Key`` gets the first one's answer and keeps nothing more (every raw reception is a
line of ``receptions.log``). A ``To`` that is no E.164 number (SMS) is refused ``400 {"code": 21211}``.
Then it POSTs the status to ``StatusCallback``, signed with ``X-Twilio-Signature``: ``delivered``,
or ``undelivered`` with ``ErrorCode`` 30005 (unknown destination) for numbers starting ``+999``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from loyalty.messages.signatures import (
    BODY_SIGNATURE_HEADER,
    CALLBACK_SIGNATURE_HEADER,
    body_signature_ok,
    sign_callback,
)

E164 = re.compile(r"\+[1-9]\d{6,14}")
UNREACHABLE_PREFIX = "+999"


class Provider:
    """The provider's state: the account, the kept messages by idempotency key, the callbacks."""

    def __init__(self, directory: Path, *, account_sid: str, token: str, callback_delay_s: float = 0.2) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.account_sid = account_sid
        self.token = token
        self.callback_delay_s = callback_delay_s
        self.lock = threading.Lock()
        self.answers: dict[str, dict[str, Any]] = {}
        for path in directory.glob("SM*.json"):
            kept = json.loads(path.read_text())
            if kept.get("idempotency_key"):
                self.answers[kept["idempotency_key"]] = {"sid": kept["sid"], "status": "queued"}
        self.receptions = open(directory / "receptions.log", "a", buffering=1)  # noqa: SIM115

    def accept(self, form: dict[str, str], key: str | None) -> tuple[int, dict[str, Any]]:
        to = form.get("To", "")
        if form.get("Channel") != "push" and not E164.fullmatch(to):
            return 400, {"code": 21211, "message": f"The 'To' number {to} is not a valid phone number."}
        with self.lock:
            self.receptions.write(f"{key or ''}\n")
            if key and key in self.answers:
                return 201, self.answers[key]
            sid = "SM" + uuid.uuid4().hex
            answer = {"sid": sid, "status": "queued"}
            kept = {"sid": sid, "idempotency_key": key, "received_at": time.time(), **form}
            (self.directory / f"{sid}.json").write_text(json.dumps(kept, indent=1))
            if key:
                self.answers[key] = answer
        if form.get("StatusCallback"):
            threading.Thread(target=self._callback, args=(sid, form), daemon=True).start()
        return 201, answer

    def _callback(self, sid: str, form: dict[str, str]) -> None:
        time.sleep(self.callback_delay_s)
        params = {"MessageSid": sid, "AccountSid": self.account_sid, "From": form.get("From", ""), "To": form["To"]}
        if form["To"].startswith(UNREACHABLE_PREFIX):
            params |= {"MessageStatus": "undelivered", "ErrorCode": "30005"}
        else:
            params |= {"MessageStatus": "delivered"}
        url = form["StatusCallback"]
        headers = {CALLBACK_SIGNATURE_HEADER: sign_callback(url, params, key=self.token)}
        for attempt in range(5):
            try:
                if httpx.post(url, data=params, headers=headers, timeout=10).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5 * 2**attempt)


def handler_for(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != f"/2010-04-01/Accounts/{provider.account_sid}/Messages.json":
                return self._answer(404, {"code": 20404, "message": "not found"})
            expected = "Basic " + base64.b64encode(f"{provider.account_sid}:{provider.token}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self._answer(401, {"code": 20003, "message": "authenticate"})
            if not body_signature_ok(body, self.headers.get(BODY_SIGNATURE_HEADER), key=provider.token):
                return self._answer(403, {"code": 20003, "message": "bad request signature"})
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            status, answer = provider.accept(form, self.headers.get("Idempotency-Key"))
            return self._answer(status, answer)

    return Handler


def serve(port: int, provider: Provider, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Starts the server in a thread of this process (``shutdown()`` it)."""
    server = ThreadingHTTPServer((host, port), handler_for(provider))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def kept_messages(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("SM*.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--account-sid", default="AC00000000000000000000000000000000")
    parser.add_argument("--token", required=True, help="the auth token (Basic auth, request and callback signatures)")
    args = parser.parse_args()
    provider = Provider(args.dir, account_sid=args.account_sid, token=args.token)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(provider))
    print(f"SMS provider on {args.host}:{args.port}, messages in {args.dir}", flush=True)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
