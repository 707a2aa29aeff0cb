"""gunicorn settings, read by `make run` and the container. Every value can be overridden from the environment."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One process per core: each holds its own copy of the model. Of a process's threads, at most CLASSIFY_AT_ONCE (2)
# work on uploads at a time; the others serve pages and stream chat answers, which mostly wait on the chat server.
# Measured on 2 cores (bench/RESULTS.md, "Uploads under load"): as many uploads a second as 2 x 2, 2 x 4 or 4 x 2,
# at the memory of 2 x 2 (8 threads all classifying: 314 MB a process instead of 201).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request may take at most this long; chat replies stay well inside it (OPENAI_TIMEOUT, OPENAI_MAX_RETRIES).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # seconds a worker has to finish its requests on restart or shutdown
keepalive = 5
# Recycle workers now and then, at staggered times, so that slow leaks never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket would sit at one path per user ($HOME/.gunicorn); two servers on a machine would clash.
control_socket_disable = True
