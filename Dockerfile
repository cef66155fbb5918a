FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home mindpulse && mkdir -p /app/var /app/artifacts && chown -R mindpulse /app/var /app/artifacts
USER mindpulse
EXPOSE 8000
CMD ["gunicorn", "mindpulse.wsgi", "--bind=0.0.0.0:8000", "--workers=2"]
