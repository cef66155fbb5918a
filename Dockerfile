FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
WORKDIR /app
# One image per role: requirements/web.txt (no Evidently) for the web servers,
# requirements/worker.txt for the workers and beat (docker-compose.yml sets it per service).
ARG REQUIREMENTS=requirements.txt
COPY requirements.txt constraints.txt ./
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r ${REQUIREMENTS} -c constraints.txt
COPY . .
RUN useradd --create-home mindpulse && mkdir -p /app/var /app/artifacts && chown -R mindpulse /app/var /app/artifacts
USER mindpulse
EXPOSE 8000
# ops/gunicorn.conf.py: the settings `make bench` measured (4 gthread workers of 2 threads).
CMD ["gunicorn", "mindpulse.wsgi", "--config=/app/ops/gunicorn.conf.py", "--bind=0.0.0.0:8000"]
