#!/usr/bin/env bash
# Smoke test of the production start: runs deploy/start.sh, as the container does, on a free loopback port
# against a throw-away SQLite database and media folder, then checks the health check, the home page and a
# collected static file, and stops the server with SIGTERM. Run deploy/build.sh first (production serves only
# collected static files). Prints each check; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"

work="$(mktemp -d)"
server_pid=""
log="$work/server.log"

stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*" >&2
    echo "--- last lines of the server log ---" >&2
    tail -n 40 "$log" >&2 || true
    exit 1
}

# GET path -> prints "status content-type" and writes the body to $work/body.
get() {
    "$PYTHON" - "$port" "$1" "$work/body" <<'PY'
import http.client, sys

port, path, body_path = sys.argv[1:]
connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
connection.request("GET", path, headers={"Accept-Encoding": "identity"})
response = connection.getresponse()
with open(body_path, "wb") as body:
    body.write(response.read())
print(response.status, response.getheader("Content-Type", ""))
PY
}

port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The first allowed host is not 127.0.0.1, so the health check must name it as the container's check does.
export DJANGO_ALLOWED_HOSTS="classifier.example.test,127.0.0.1" PORT="$port"

echo "smoke: starting deploy/start.sh on 127.0.0.1:$port (production settings, SQLite in $work)"
env DJANGO_SETTINGS_MODULE=classifier_site.settings.production \
    DJANGO_SECRET_KEY="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DJANGO_SECURE_SSL_REDIRECT=0 \
    EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend \
    DATABASE_URL="sqlite:///$work/db.sqlite3" \
    MEDIA_ROOT="$work/media" \
    RUN_MIGRATIONS=1 \
    HOST=127.0.0.1 \
    WEB_CONCURRENCY="${WEB_CONCURRENCY:-1}" \
    PYTHON="$PYTHON" \
    deploy/start.sh >"$log" 2>&1 &
server_pid=$!

for _ in $(seq 120); do
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before answering"
    "$PYTHON" deploy/healthcheck.py 2>/dev/null && break
    sleep 1
done
"$PYTHON" deploy/healthcheck.py || fail "deploy/healthcheck.py: /healthz did not answer 200 within 120 s"
echo "ok   deploy/healthcheck.py: /healthz answers 200 to Host classifier.example.test"

response="$(get /healthz)" || fail "GET /healthz got no answer"
read -r status type <<<"$response"
[[ "$status" == 200 ]] || fail "GET /healthz answered $status"
grep -q '"status": "ok"' "$work/body" || fail "GET /healthz body: $(cat "$work/body")"
echo "ok   GET /healthz -> $status $(cat "$work/body")"

response="$(get /)" || fail "GET / got no answer"
read -r status type <<<"$response"
[[ "$status" == 200 && "$type" == text/html* ]] || fail "GET / answered $status $type"
stylesheet="$(grep -o '/static/css/site\.[0-9a-f]*\.css' "$work/body" | head -n 1)" ||
    fail "GET / links no hashed stylesheet /static/css/site.<hash>.css (was deploy/build.sh run?)"
echo "ok   GET / -> $status, links $stylesheet"

response="$(get "$stylesheet")" || fail "GET $stylesheet got no answer"
read -r status type <<<"$response"
[[ "$status" == 200 && "$type" == text/css* ]] || fail "GET $stylesheet answered $status $type"
echo "ok   GET $stylesheet -> $status $type"

response="$(get /predict/)" || fail "GET /predict/ got no answer"
read -r status type <<<"$response"
[[ "$status" == 302 ]] || fail "GET /predict/ answered $status, expected 302 to the login page"
echo "ok   GET /predict/ -> $status (sign-in required)"

kill -TERM "$server_pid"
exit_status=0
wait "$server_pid" || exit_status=$?
server_pid=""
[[ "$exit_status" == 0 ]] || fail "the server exited with status $exit_status after SIGTERM"
echo "ok   SIGTERM: the server stopped cleanly (exit 0)"
echo "smoke: all checks passed"
