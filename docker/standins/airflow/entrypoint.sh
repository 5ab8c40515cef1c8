#!/bin/bash
# The official Airflow image's entrypoint contract, for the stand-in (docker/standins/airflow/Dockerfile).
set -euo pipefail
if [ "${_AIRFLOW_DB_MIGRATE:-}" = true ]; then
  airflow db migrate
fi
if [ "${_AIRFLOW_WWW_USER_CREATE:-}" = true ]; then
  # As the official image: a one-shot command whose argv holds the password for a moment, in this container only.
  airflow users create --role Admin --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
    --firstname Airflow --lastname Admin --email admin@example.invalid \
    --password "${_AIRFLOW_WWW_USER_PASSWORD:?_AIRFLOW_WWW_USER_PASSWORD must be set}" || true
fi
case "${1:-}" in
  bash | python | python3 | "") exec "${@:-bash}" ;;
  *) exec airflow "$@" ;;
esac
