# The lrcast server image: lrcast (the schedule language) and lrcast-server with PostgreSQL
# support. docker-compose.yml runs two of these behind nginx on one PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY client ./client
COPY service ./service
# A C compiler only while installing: it builds the server's answer table (answers.py).
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null \
    && pip install ./client "./service[postgres]" \
    && python -c "import lrcast_server._answertable" \
    && apt-get purge -y -qq --auto-remove gcc libc6-dev >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home lrcast

USER lrcast
WORKDIR /data
# Only for a container run without LRCAST_DATABASE_URL: SQLite in /data.
ENV LRCAST_DATA_DIR=/data
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]

# Bound beyond loopback, the server demands a token for every request (set LRCAST_ADMIN_TOKEN,
# then make read/write tokens with `lrcast-server token create`).
CMD ["lrcast-server", "serve", "--host", "0.0.0.0", "--port", "8000"]
