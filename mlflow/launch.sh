#!/usr/bin/env bash
# Start the production tracking stack (docker-compose.yml) and wait until MLflow answers /health.
#   usage: mlflow/launch.sh [up|down|logs]
# Secrets: mlflow/.env (from .env.example). Clients then use
#   --tracking-uri http://127.0.0.1:${MLFLOW_PORT:-5000}  with MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD
# in their environment (never on the command line).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
action=${1:-up}

if [[ $action == down ]]; then exec docker compose down; fi
if [[ $action == logs ]]; then exec docker compose logs -f mlflow; fi

[[ -f .env ]] || { echo "mlflow/.env missing: cp mlflow/.env.example mlflow/.env and fill it in" >&2; exit 2; }
for key in POSTGRES_PASSWORD MINIO_ROOT_USER MINIO_ROOT_PASSWORD MLFLOW_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY; do
    grep -Eq "^${key}=.+" .env || { echo "mlflow/.env: $key is empty" >&2; exit 2; }
done
chmod 600 .env
port=$(grep -E '^MLFLOW_PORT=' .env | cut -d= -f2); port=${port:-5000}

if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "something already serves 127.0.0.1:$port (cluster/start_mlflow.sh's server?); stop it or set MLFLOW_PORT" >&2
    exit 1
fi
docker compose up -d --build
for _ in $(seq 120); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        echo "MLflow (basic auth) on http://127.0.0.1:$port  MinIO console http://127.0.0.1:9001"
        exit 0
    fi
    sleep 2
done
echo "MLflow did not become healthy; see: mlflow/launch.sh logs" >&2
exit 1
