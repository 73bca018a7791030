# One image for every role (web, worker, beat, catcher); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    INSTANCE_DIR=/data

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN pybabel compile -d dashboard/translations
RUN useradd --create-home --uid 1000 dispatcher \
    && mkdir -p /data && chown dispatcher:dispatcher /data
USER dispatcher
VOLUME ["/data"]
EXPOSE 5000

CMD ["gunicorn", "--workers", "2", "--threads", "4", "--bind", "0.0.0.0:5000", "wsgi:app"]
