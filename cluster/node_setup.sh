#!/usr/bin/env bash
# Runs on every node, from the cluster YAML's setup_commands (after file_mounts synced this checkout to
# ~/selfre-src and cluster/secrets/ to ~/.selfre/secrets). Three jobs:
#   0. refuse to set up a node that would not work or not say what it runs: the cluster's secrets missing
#      (made on your machine by cluster/make_secrets.py), REF not a commit of the checkout, or, for HEAD, a
#      checkout whose tracked files have uncommitted changes (the nodes install the commit, so those changes
#      would silently not run, and every MLflow run would name a commit that is not its code);
#   1. export selfre exactly at REF to ~/selfre (`git archive`, which also writes the commit into the package:
#      .gitattributes, selfre/_archive.py) and install it from there, skipped when already installed: by an
#      earlier run, or by the node image (cluster/Dockerfile writes the same stamp), which makes this install
#      the path for nodes started from Ray's stock image;
#   2. make every later login shell find it with Ray's token auth on. Ray runs its start commands, `ray exec`
#      and the `ray stop` that `ray down` sends in `bash --login -i` over SSH, and that PATH does not include a
#      virtualenv: without this `ray down` cannot find `ray` and leaves Ray running.
#
# usage: node_setup.sh [REF [VENV]]
#   REF   what to install from the synced checkout: HEAD (default: the commit you ran `ray up` from), or a tag
#         or commit of it
#   VENV  install into this virtualenv (created if missing) and put its bin/ first on PATH (bare machines,
#         local.yaml); without it the image's own Python is used (Docker images, gpu.yaml)
# env:   SELFRE_TORCH    torch requirement installed first (default torch==2.13.0: its PyPI wheels bundle
#                        CUDA 13.0, which needs an NVIDIA driver >= 580; use a cu12x wheel on older drivers)
#        SELFRE_S3_ROOT  s3://bucket/prefix exported to later shells (search storage, data, MLflow artifacts);
#                        "auto" = s3://selfre-<AWS account id>, found with the node's instance profile
set -euo pipefail

ref=${1:-HEAD}
venv=${2:-}
src="$HOME/selfre-src"
dest="$HOME/selfre"
secrets="$HOME/.selfre/secrets"
env_file="$HOME/.selfre.env"
stamp="$HOME/.selfre-installed"

fail() { echo "node_setup.sh: $*" >&2; exit 1; }

# 0. Secrets first: without them Ray (token auth) and MLflow (basic auth) cannot start.
for name in auth_token mlflow.env; do
    [ -s "$secrets/$name" ] || fail "cluster/secrets/$name is missing (here: $secrets/$name). Make the cluster's" \
        "secrets on your machine with \`python cluster/make_secrets.py\` (repository root), then run \`ray up\` again."
done
commit=$(git -C "$src" rev-parse --verify -q "$ref^{commit}") ||
    fail "'$ref' is not a commit of the synced checkout $src: run \`ray up\` from a git clone of selfre, and give" \
        "node_setup.sh HEAD or a tag or commit of that clone."
if [ "$ref" = HEAD ]; then
    # Changed or deleted tracked files only: untracked ones are not installed either, and files your global git
    # excludes leave out (.DS_Store, editor folders) are synced but would look untracked here.
    changes=$(git -C "$src" status --porcelain --untracked-files=no)
    [ -z "$changes" ] || fail "the checkout you ran \`ray up\` from has uncommitted changes; nodes install its" \
        "commit ${commit:0:12}, which lacks them. Commit them (\`git commit -a\`, or \`git stash\` to drop them)," \
        "then run \`ray up\` again. Changed: $(echo "$changes" | head -5 | tr '\n' ' ')"
fi

python=python3
if [ -n "$venv" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    python="$venv/bin/python"
fi

# 1. Install once per (commit, interpreter): re-running `ray up` or adding a node costs nothing.
if [ "$(cat "$stamp" 2>/dev/null)" != "$commit $python" ]; then
    "$python" -m pip install -q --upgrade pip
    "$python" -m pip install -q "${SELFRE_TORCH:-torch==2.13.0}"
    rm -rf "$dest" && mkdir -p "$dest"
    git -C "$src" archive "$commit" | tar -x -C "$dest"
    "$python" -m pip install -q "$dest[search]"
    echo "$commit $python" > "$stamp"
fi

s3_root=${SELFRE_S3_ROOT:-}
if [ "$s3_root" = auto ]; then  # sts:GetCallerIdentity needs no IAM permission: any instance profile can call it
    s3_root="s3://selfre-$("$python" -c 'import boto3; print(boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"])')"
fi

# 2. One env file, sourced first thing in ~/.bashrc (before any "not interactive: return" guard).
mkdir -p "$HOME/.ray"
install -m 600 "$secrets/auth_token" "$HOME/.ray/auth_token"  # where Ray looks for the cluster's token
{
    [ -z "$venv" ] || echo "export PATH=\"$venv/bin:\$PATH\""
    echo "export RAY_AUTH_MODE=token"  # every node and every client of this cluster must agree on it
    [ -z "$s3_root" ] || echo "export SELFRE_S3_ROOT=$s3_root"
    # MLflow credentials (file_mounts copies them from your machine): every Ray worker inherits them from
    # `ray start`'s login shell and authenticates to the head's server (start_mlflow.sh) with them.
    echo "set -a; . \"$secrets/mlflow.env\"; set +a"
} > "$env_file"
touch "$HOME/.bashrc"
if ! grep -qxF ". $env_file" "$HOME/.bashrc"; then
    { echo ". $env_file"; cat "$HOME/.bashrc"; } > "$HOME/.bashrc.selfre-new" && mv "$HOME/.bashrc.selfre-new" "$HOME/.bashrc"
fi
echo "selfre $ref ($commit) ready: $("$python" -c 'import ray, selfre.provenance as p; print(p.describe(), "ray", ray.__version__)')"
