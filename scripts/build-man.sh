#!/bin/sh
# build-man.sh - docs/agora.1 from the fragments in docs/man/ (in the order
# of their names: header, the commands' sections, footer) and the version.
#   sh scripts/build-man.sh > docs/agora.1
set -eu
cd "$(dirname "$0")/.."
version=$(cat VERSION)
cat docs/man/*.roff | sed "s/@VERSION@/$version/"
