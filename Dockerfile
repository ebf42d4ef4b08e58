FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng sox && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY assist ./assist
COPY client ./client
RUN pip install --no-cache-dir .
ENV ASSIST_HOST=0.0.0.0 \
    ASSIST_DATA_DIR=/data \
    ASSIST_MODEL_CACHE=/data/models \
    ASSIST_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080 9092 40000-40019/udp
# `docker stop` sends SIGTERM: the node drains (new calls refused, calls in progress finish within
# ASSIST_DRAIN_SECONDS) and exits 0; give the container a stop timeout longer than that (docs/scale.md)
STOPSIGNAL SIGTERM
CMD ["assist", "serve"]
