# The poc_tasks worker image (also runs Flower and the one-shot S3 bucket set-up in compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY poc_tasks ./poc_tasks
RUN pip install '.[flower]'

# The package carries its Celery settings; the top-level celeryconfig.py (for `celery --config celeryconfig`)
# is not part of the package, so it is copied and put on the path.
COPY celeryconfig.py ./
ENV PYTHONPATH=/app

# Celery warns when a worker runs as root (it would refuse with pickle enabled); run as a plain user.
RUN useradd --create-home --uid 1001 poc
USER poc

CMD ["celery", "-A", "poc_tasks", "worker", "-Q", "poc_aggregation,poc_aggregation_xl", "-E", \
     "--concurrency", "1", "--prefetch-multiplier", "1", "--loglevel", "INFO"]
