#!/usr/bin/env bash
# Regenerates the README's command list (between the commands:begin and
# commands:end markers) from the command table, with `strata commands`.
#   Scripts/readme-commands.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product strata >/dev/null
.build/debug/strata commands > .build/commands.md
python3 - <<'PY'
import re
readme = open("README.md").read()
begin = readme.index("<!-- commands:begin")
begin = readme.index("\n", begin) + 1
end = readme.index("<!-- commands:end -->")
open("README.md", "w").write(readme[:begin] + open(".build/commands.md").read() + readme[end:])
PY
echo "README.md: command list regenerated" >&2
