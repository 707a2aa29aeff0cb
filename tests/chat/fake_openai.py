"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions protocol, for the chat tests.

Tests queue what the next requests get (`server.then(...)`); with nothing queued it streams back "You said: …".
Every request body is kept in `server.requests` (photos and all); `server.disconnected` counts streams the client
broke off.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def stream(*pieces, delay=0.0, usage=(12, 5)):
    return {"kind": "stream", "pieces": list(pieces), "delay": delay, "usage": usage}


def tool_call(name, arguments):
    return {"kind": "tool_call", "name": name, "arguments": arguments}


def status(code, message="failed", headers=None):
    return {"kind": "status", "code": code, "message": message, "headers": headers or {}}


def hang(seconds):
    return {"kind": "hang", "seconds": seconds}


def cut(*pieces):
    """Stream these pieces, then drop the connection in the middle of the response."""
    return {"kind": "cut", "pieces": list(pieces)}


def refuse_tools_then(behaviour):
    """Answer 400 to a request that offers tools (a server without tool calling), else `behaviour`."""
    return {"kind": "refuse_tools", "then": behaviour}


class FakeOpenAI:
    def __init__(self):
        self.requests = []
        self.script = []
        self.disconnected = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def then(self, *behaviours):
        with self.lock:
            self.script.extend(behaviours)

    def _next(self, body):
        with self.lock:
            self.requests.append(body)
            if self.script:
                return self.script.pop(0)
        last = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        if isinstance(last, list):  # content parts: a message with photos
            last = " ".join(part["text"] for part in last if part["type"] == "text")
        return stream("You said: ", last)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                if not self.path.endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": "not found"}})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                behaviour = fake._next(body)
                if behaviour["kind"] == "refuse_tools":
                    if body.get("tools"):
                        with fake.lock:
                            fake.script.insert(0, behaviour["then"])
                        return self._json(400, {"error": {"message": "tools are not supported", "type": "invalid"}})
                    behaviour = behaviour["then"]
                kind = behaviour["kind"]
                if kind == "status":
                    error = {"error": {"message": behaviour["message"], "type": "error", "code": None}}
                    return self._json(behaviour["code"], error, behaviour["headers"])
                if kind == "hang":
                    time.sleep(behaviour["seconds"])
                    return None
                if not body.get("stream"):
                    text = "".join(behaviour.get("pieces", []))
                    return self._json(200, _completion(body["model"], text))
                self._start_stream()
                try:
                    if kind == "tool_call":
                        self._tool_call(body, behaviour)
                    else:
                        self._pieces(body, behaviour)
                except (BrokenPipeError, ConnectionResetError):
                    with fake.lock:
                        fake.disconnected += 1
                    self.close_connection = True

            def _pieces(self, body, behaviour):
                for piece in behaviour["pieces"]:
                    self._event(_chunk(body["model"], {"content": piece}))
                    time.sleep(behaviour.get("delay", 0))
                if behaviour["kind"] == "cut":
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # mid-response: no final chunk, no [DONE]
                    return
                self._finish(body, "stop", behaviour["usage"])

            def _tool_call(self, body, behaviour):
                call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": behaviour["name"]}}
                self._event(
                    _chunk(
                        body["model"],
                        {
                            "role": "assistant",
                            "tool_calls": [call | {"function": {"name": behaviour["name"], "arguments": ""}}],
                        },
                    )
                )
                self._event(
                    _chunk(
                        body["model"], {"tool_calls": [{"index": 0, "function": {"arguments": behaviour["arguments"]}}]}
                    )
                )
                self._finish(body, "tool_calls", (30, 8))

            def _finish(self, body, reason, usage):
                self._event(
                    {**_chunk(body["model"], {}), "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    prompt, completion = usage
                    totals = {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    }
                    self._event({**_chunk(body["model"], {}), "choices": [], "usage": totals})
                self._write(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _start_stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def _event(self, data):
                self._write(f"data: {json.dumps(data)}\n\n".encode())

            def _write(self, data):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _json(self, code, data, headers=None):
                payload = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _chunk(model, delta):
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def _completion(model, text):
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
