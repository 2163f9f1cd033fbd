#!/usr/bin/env bash
# helm lint + helm template of charts/aegis, with the default values and every charts/aegis/ci/*.yaml.
# Without helm on PATH it says so and succeeds: test/deploy checks the values against the schema and
# the templates' invariants without helm.
set -euo pipefail
case $0 in */*) cd "${0%/*}/.." ;; *) cd .. ;; esac
chart=charts/aegis

if ! command -v helm >/dev/null 2>&1; then
  echo "helm not installed: skipped lint/template"
  exit 0
fi

helm lint --strict "$chart"
helm template aegis "$chart" --namespace aegis >/dev/null
for values in "$chart"/ci/*.yaml; do
  helm lint --strict "$chart" -f "$values"
  helm template aegis "$chart" --namespace aegis -f "$values" >/dev/null
done
echo "helm lint/template: ok"
