# The Outreach image: one image, run as web (gunicorn), worker, poller or migrate.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OUTREACH_INSTANCE_DIR=/var/lib/outreach

RUN useradd --system --home-dir /app --shell /usr/sbin/nologin outreach \
    && install -d -o outreach -g outreach /var/lib/outreach

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY outreach ./outreach
COPY web ./web
COPY workers ./workers
COPY migrations ./migrations
# Editable, so `outreach db upgrade` finds migrations/ beside the packages.
RUN pip install -e .

USER outreach
VOLUME ["/var/lib/outreach"]
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", "web.wsgi:app"]
