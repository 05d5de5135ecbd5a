#!/usr/bin/env bash
# Builds the per-session editor image (code-server 4.100.3 + the devflow extension + its
# settings; see README.md) from this checkout, and optionally pushes it to ECR.
#   deploy/editor/build.sh                      docker build -t devflow-code-server:<commit>
#   deploy/editor/build.sh --tag TAG --push 123456789012.dkr.ecr.us-east-1.amazonaws.com/devflow-code-server
#   deploy/editor/build.sh --context-only DIR   only gather the build context into DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev)"
push=""
context=""
only=false
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --push) push="$2"; shift 2 ;;
    --context-only) context="$2"; only=true; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$context" ]; then
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
fi
mkdir -p "$context"

# The build context: the Dockerfile and its scripts, the recipe's install script, and the
# extension packaged from extension/ as this checkout has it.
cp "$here/Dockerfile" "$here/entrypoint.sh" "$here/settings.mjs" "$context/"
cp "$root/tests/e2e/install-code-server.sh" "$context/"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
(cd "$root/extension" && { [ -x node_modules/.bin/vsce ] || npm ci --silent; } \
  && node_modules/.bin/vsce package --no-dependencies --allow-missing-repository \
       --out "$context/devflow.vsix" </dev/null >/dev/null)
echo "build context in $context: $(cd "$context" && ls | tr '\n' ' ')"
$only && exit 0

command -v docker >/dev/null || { echo "docker is not installed; --context-only gathers the context without it" >&2; exit 3; }
docker build -t "devflow-code-server:$tag" "$context"
if [ -n "$push" ]; then
  docker tag "devflow-code-server:$tag" "$push:$tag"
  docker push "$push:$tag"
  echo "pushed $push:$tag"
fi
echo "register the task: AWS_ACCOUNT_ID=… AWS_REGION=… IMAGE_TAG=$tag envsubst < $here/task-definition.json > task.json && aws ecs register-task-definition --cli-input-json file://task.json"
