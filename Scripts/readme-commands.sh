#!/usr/bin/env bash
# Regenerates the command lists from the command table, with `strata commands`:
# the README's (the commands clients send) and docs/architecture.md's (the
# replication and coordinator commands), each between its commands:begin and
# commands:end markers.
#   Scripts/readme-commands.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product strata >/dev/null
.build/debug/strata commands > .build/commands.md
.build/debug/strata commands --cluster > .build/commands-cluster.md
python3 - <<'PY'
for path, generated in (("README.md", ".build/commands.md"), ("docs/architecture.md", ".build/commands-cluster.md")):
    text = open(path).read()
    begin = text.index("<!-- commands:begin")
    begin = text.index("\n", begin) + 1
    end = text.index("<!-- commands:end -->")
    open(path, "w").write(text[:begin] + open(generated).read() + text[end:])
PY
echo "README.md, docs/architecture.md: command lists regenerated" >&2
