#!/usr/bin/env bash
# Switch the project to one of examples/: the example's dataset.py, features.py and params.yaml replace the
# project's; a file the example does not hold comes from the default example (examples/penguins). The
# packages an example's model needs beyond the template's (requirements-model.in and its lock) come too, and
# go with the next switch; `make venv` (any target) installs them.
set -euo pipefail
name="${1:-}"
if [ -z "$name" ] || [ ! -d "examples/$name" ]; then
  echo "use-example: name an example with EXAMPLE=...; there are: $(ls examples | tr '\n' ' ')" >&2
  exit 2
fi
declare -A target=([dataset.py]=src/mlproject/dataset.py [features.py]=src/mlproject/features.py [params.yaml]=params.yaml)
for file in dataset.py features.py params.yaml; do
  source="examples/$name/$file"
  [ -f "$source" ] || source="examples/penguins/$file"
  cp "$source" "${target[$file]}"
done
for file in requirements-model.in requirements-model.txt; do
  if [ -f "examples/$name/$file" ]; then cp "examples/$name/$file" "$file"; else rm -f "$file"; fi
done
echo "the project is now the '$name' example; run: make repro"
