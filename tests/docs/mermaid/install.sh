#!/usr/bin/env bash
# Installs the optional Mermaid parser used by tests/docs/test_docs.py::test_mermaid_blocks_parse.
# The packages go to build/docs-mermaid/ (ignored by git and yamllint), not into tests/.
#   tests/docs/mermaid/install.sh [destination]      # needs node >= 18 and npm
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$here/../../../build/docs-mermaid}"
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$here/parse.mjs" "$dest/"
npm ci --prefix "$dest" --no-audit --no-fund
echo "Mermaid parser installed in $dest"
