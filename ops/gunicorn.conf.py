"""gunicorn's settings for every MindPulse web server: Docker, docker-compose, `manage.py serve`
and `make bench`, which measures this exact configuration (README, "Several hosts and capacity").

It lives in ops/, not at the repository root, because gunicorn reads ./gunicorn.conf.py from
its working directory by itself: every gunicorn started there (the tests' included) would
silently run these settings. Every command line that means them passes --config explicitly.
4 gthread workers of 2 threads met every target of the benchmark on 2 cores (bench/results);
WEB_WORKERS and WEB_THREADS change it (see .env.example).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mindpulse.settings.env import env_int

workers = env_int("WEB_WORKERS", 4, minimum=1)
threads = env_int("WEB_THREADS", 2, minimum=1)
worker_class = "gthread" if threads > 1 else "sync"
# Keep-alive connections from the balancer reuse a thread instead of a new TCP handshake.
keepalive = 30
backlog = 256
