# One image for every process of the system; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BROKERAGE_DATA_DIR=/var/lib/brokerage
WORKDIR /app
COPY pyproject.toml README.md ./
COPY brokerage brokerage
COPY gateway gateway
COPY ledger ledger
COPY marketdata marketdata
COPY search search
COPY audit audit
COPY exchange exchange
COPY refdata refdata
COPY migrations migrations
COPY fix_specs fix_specs
COPY fixsession fixsession
COPY fixclient fixclient
RUN pip install --no-cache-dir . && useradd --system --create-home brokerage \
    && mkdir -p /var/lib/brokerage && chown brokerage /var/lib/brokerage
USER brokerage
ENTRYPOINT ["brokerage"]
