#!/usr/bin/env bash
# The main job: set up, build mlpconv (release) and run a real session on the bundled digits dataset —
# create a model, fine-tune it with checkpoints, inspect it, convert it to JSON, check its gradients,
# evaluate it, predict with it, confirm the two formats hold the same model, and take it through Keras's
# .keras format and back without losing anything (optimizer state, epochs, history).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product mlpconv
mlpconv=$PWD/.build/release/mlpconv
data=fixtures/data/digits.csv
work=${MLPCONV_DEMO_DIR:-$(mktemp -d)}
mkdir -p "$work"

step() { printf '\n\033[1m$ mlpconv %s\033[0m\n' "$*"; "$mlpconv" "$@"; }

step init "$work/digits.h5" --inputs 64 --layer 32:relu --layer 10:softmax \
    --loss sparse_categorical_crossentropy --learning-rate 0.005 --seed 1 --force
step finetune "$work/digits.h5" --data "$data" --output "$work/digits.h5" --epochs 10 --batch-size 32 \
    --validation-split 0.2 --checkpoint-every 5 --plot "$work/digits-loss.svg"
step inspect "$work/digits.h5"
step convert "$work/digits.h5" "$work/digits.json" --force
step gradcheck "$work/digits.json" --data "$data" --samples 8
step evaluate "$work/digits.json" --data "$data"
step predict "$work/digits.json" --data fixtures/data/digits.csv --output "$work/predictions.npy" --force
step diff "$work/digits.h5" "$work/digits.json"
step convert "$work/digits.h5" "$work/digits.keras" --force
step inspect "$work/digits.keras"
step convert "$work/digits.keras" "$work/digits-from-keras.h5" --force
step diff "$work/digits.h5" "$work/digits-from-keras.h5"
printf '\nfiles in %s: %s\n' "$work" "$(cd "$work" && ls | tr '\n' ' ')"
