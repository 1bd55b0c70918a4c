#!/usr/bin/env bash
# Head node only (gpu.yaml's head_start_ray_commands): the cluster's MLflow tracking server, started once.
#   * trial workers on every node log to it directly, so it listens on all of the head's interfaces, port
#     ${MLFLOW_PORT:-5000}; that port is open only inside the cluster's security group (Ray's AWS provider
#     opens nothing but SSH to the outside): you reach the UI through an SSH tunnel (cluster/README.md);
#   * basic auth on (mlflow server --app-name basic-auth, mlflow/basic_auth.ini with a SQLite user store):
#     the admin password is MLFLOW_TRACKING_PASSWORD from ~/.selfre/secrets/mlflow.env, made on your machine
#     by cluster/make_secrets.py and copied to every node by file_mounts, where node_setup.sh exports it so
#     trial workers authenticate. Never in this script, the YAML or a command line;
#   * SQLite on the head's disk for runs and the registry (MLFLOW_BACKEND_URI=postgresql://... for
#     PostgreSQL: see mlflow/README.md for the full recipe); artifacts proxied to S3 by the server
#     (--serve-artifacts) with the head's instance-profile credentials: clients need no S3 keys.
#
# usage: start_mlflow.sh S3_ROOT        e.g. s3://my-bucket/selfre  -> artifacts in S3_ROOT/mlflow-artifacts
set -euo pipefail

s3_root=${1:?usage: start_mlflow.sh s3://bucket/prefix}
port=${MLFLOW_PORT:-5000}
home_dir="$HOME/mlflow"
secrets="$HOME/.selfre/secrets/mlflow.env"
here=$(cd "$(dirname "$0")" && pwd)

if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "MLflow already serving on port $port"
    exit 0
fi
[ -r "$secrets" ] || { echo "start_mlflow.sh: $secrets missing: run \`python cluster/make_secrets.py\` on your machine, then \`ray up\` again" >&2; exit 2; }
set -a; . "$secrets"; set +a
for name in MLFLOW_TRACKING_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY; do
    [ -n "${!name-}" ] || { echo "start_mlflow.sh: $name is empty in $secrets" >&2; exit 2; }
done

mkdir -p "$home_dir" && chmod 700 "$home_dir"
# The production recipe's auth config, with its user store moved from PostgreSQL to a SQLite file here.
sed "s|^database_uri = .*|database_uri = sqlite:///$home_dir/auth.db|" "$here/../mlflow/basic_auth.ini" > "$home_dir/basic_auth.ini"

MLFLOW_AUTH_CONFIG_PATH="$home_dir/basic_auth.ini" MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_TRACKING_PASSWORD" \
nohup mlflow server --host 0.0.0.0 --port "$port" --app-name basic-auth \
    --backend-store-uri "${MLFLOW_BACKEND_URI:-sqlite:///$home_dir/mlflow.db}" \
    --serve-artifacts --artifacts-destination "${s3_root%/}/mlflow-artifacts" \
    --allowed-hosts "localhost:*,127.0.0.1:*,$(hostname -I | awk '{print $1}'):*" \
    > "$home_dir/server.log" 2>&1 &
for _ in $(seq 60); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { echo "MLflow (basic auth) on port $port"; exit 0; }
    sleep 1
done
echo "MLflow did not start; see $home_dir/server.log" >&2
exit 1
