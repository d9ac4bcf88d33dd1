#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

Small hand-made inputs, valid and near-valid (one field off), so that the fuzzer starts from
the formats' structure instead of having to discover it; plus the small reference files of
tests/fixtures and configs/. Standard library only. Regenerate with
    python3 tests/fuzz/make_corpus.py
(the files are committed; rerunning rewrites them byte for byte).
"""
import gzip
import json
import os
import struct
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*parts):
    with open(os.path.join(ROOT, *parts), "rb") as f:
        return f.read()


# ---- safetensors ---------------------------------------------------------------------------

def safetensors(header, data_bytes, pad=True):
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    raw = text.encode("utf-8")
    if pad:
        raw += b" " * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(i % 256 for i in range(data_bytes))


def make_safetensors():
    t = "fuzz_safetensors_header"
    one = {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
    write(t, "one_tensor", safetensors(one, 24))
    write(t, "empty_header", safetensors({}, 0))
    write(t, "metadata_only", safetensors({"__metadata__": {"format": "pt"}}, 0))
    write(t, "all_dtypes", safetensors({
        "__metadata__": {"format": "pt", "k": "v"},
        "a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]},
        "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
        "c": {"dtype": "BF16", "shape": [], "data_offsets": [12, 14]},
        "d": {"dtype": "I64", "shape": [1, 1], "data_offsets": [14, 22]},
        "e": {"dtype": "I32", "shape": [0, 5], "data_offsets": [22, 22]},
        "f": {"dtype": "I16", "shape": [1], "data_offsets": [22, 24]},
        "g": {"dtype": "I8", "shape": [2], "data_offsets": [24, 26]},
        "h": {"dtype": "U8", "shape": [3], "data_offsets": [26, 29]},
        "i": {"dtype": "BOOL", "shape": [3], "data_offsets": [29, 32]},
    }, 32))
    # Near-valid: one thing wrong each.
    write(t, "truncated_data", safetensors(one, 20))
    write(t, "trailing_bytes", safetensors(one, 30))
    write(t, "overlap", safetensors({
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12))
    write(t, "gap", safetensors({
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}, 20))
    write(t, "size_mismatch", safetensors(
        {"w": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 24]}}, 24))
    write(t, "shape_overflow", safetensors(
        {"w": {"dtype": "F64", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}, 8))
    write(t, "unknown_dtype", safetensors(
        {"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, 2))
    write(t, "bad_metadata", safetensors({"__metadata__": {"epochs": 3}}, 0))
    write(t, "bad_json", safetensors('{"w":{"dtype":"F32",', 0, pad=False))
    write(t, "length_beyond_file", struct.pack("<Q", 1000) + b"{}")
    write(t, "short_file", b"abc")
    for name in ("reference_numpy.safetensors", "reference_torch.safetensors"):
        write(t, name, read("tests", "fixtures", name))


# ---- config (INI, then NUL-separated command-line tokens) ----------------------------------

def make_config():
    t = "fuzz_config"
    for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
        if name.endswith(".ini"):
            write(t, name, read("configs", name))
    write(t, "minimal", "[data]\ntrain = a.h5\n")
    write(t, "every_section", "\n".join([
        "[model]", "backbone = mlp", "mlp_hidden = 8,4", "num_classes = 3",
        "[data]", "train = a.h5", "test = b.h5", "batch_size = 2", "drop_last = true",
        "[train]", "strategy = head", "epochs = 2", "feature_cache = memory",
        "nonfinite_loss = skip",
        "[optim]", "name = adamw", "lr = 1e-3", "eps = 1e-8", "min_lr = 0", "grad_clip = 1.5",
        "[dist]", "bucket_cap_mb = 0.5", "timeout_s = 30",
        "[log]", "dir = runs/x", "level = debug", "every = 1", "overwrite = false",
        "[checkpoint]", "every_steps = 5", "every_epoch = true", "keep = 3", ""]))
    write(t, "with_args", "[data]\ntrain = a.h5\n\0--train.epochs\0003\0--optim.lr=0.5\0--resume\0auto")
    write(t, "help", "\0--help")
    write(t, "bad_value", "[train]\nepochs = many\n[data]\ntrain = a.h5\n")
    write(t, "unknown_key", "[data]\ntrain = a.h5\n[trian]\nepochs = 2\n")
    write(t, "out_of_range", "[data]\ntrain = a.h5\n[dist]\ntimeout_s = 1e10\n")
    write(t, "positional", "[data]\ntrain = a.h5\n\0x.ini")
    write(t, "bert", "[model]\nbackbone = bert\nweights = m.safetensors\npooling = mean\n"
                     "[data]\ntrain = t.h5\n")


# ---- IDX -----------------------------------------------------------------------------------

def idx(type_code, dims, data):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def make_idx():
    t = "fuzz_idx"
    images = idx(8, [2, 3, 3], bytes(range(18)))
    labels = idx(8, [4], bytes([0, 1, 2, 9]))
    write(t, "images", images)
    write(t, "labels", labels)
    write(t, "images_gz", gzip.compress(images, mtime=0))
    write(t, "labels_gz", gzip.compress(labels, mtime=0))
    write(t, "four_dims", idx(8, [1, 2, 1, 2], bytes(4)))
    write(t, "empty_dim", idx(8, [0, 28, 28], b""))
    write(t, "truncated", idx(8, [2, 3, 3], bytes(10)))
    write(t, "trailing", labels + b"\x07")
    write(t, "int32_type", idx(0x0C, [1], bytes(4)))
    write(t, "bad_magic", b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    write(t, "huge_dims", idx(8, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"\x00"))
    write(t, "truncated_gz", gzip.compress(images, mtime=0)[:-6])


# ---- WordPiece text and vocabularies -------------------------------------------------------

def make_wordpiece():
    t = "fuzz_wordpiece"
    cases = read("tests", "fixtures", "wordpiece_cases.jsonl").decode("utf-8").splitlines()
    for i, line in enumerate(cases):
        if line.strip():
            write(t, "case_%02d" % i, json.loads(line)["text"])
    write(t, "specials", "a[CLS]b [SEP][MASK] [cls] [UNK [PAD]]")
    write(t, "invalid_utf8", b"caf\xc3 \xff\xfe ok \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf end\xe2\x82")
    write(t, "controls", b"a\x00b\x01c\tnl\nx\x0bz\r\n\xc2\x85\xe2\x80\x8b\xef\xbb\xbf")
    write(t, "long_word", "x" * 101 + " " + "ж" * 100 + " un" + "aff" * 30 + "able")
    write(t, "combining", "e\u0301\u0302\u0303\u0304 \u1100\u1161\u11a8 \uac00 \u0130 \ufb01")

    t = "fuzz_bpe"
    # split("\n"), not splitlines(): the texts hold U+2028 and U+0085 unescaped.
    cases = read("tests", "fixtures", "bpe_cases.jsonl").decode("utf-8").split("\n")
    for i, line in enumerate([c for c in cases if c][:60]):
        c = json.loads(line)
        write(t, "case_%02d" % i, c["text"] + ("\n" + c["pair"] if "pair" in c else ""))
    write(t, "specials", "a<s>b </s><pad> <S> <mask> <s")
    write(t, "invalid_utf8", b"caf\xc3 \xff\xfe ok \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf end\xe2\x82")
    write(t, "spaces", "  a \t\n\n b  \u00a0\u3000\u0085 c   ")

    v = "fuzz_wordpiece_vocab"
    write(v, "minimal", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    write(v, "small", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nun\n##aff\n##able\n,\n!\nhello\n")
    write(v, "crlf_dup", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nx \r\nx\r\n##x\r\n\r\n")
    write(v, "unicode", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nж\n##ж\n中\ncafé\n##́\n")
    write(v, "no_sep", "[PAD]\n[UNK]\n[CLS]\ngood\n")
    write(v, "invalid_utf8", b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xff\n")
    write(v, "empty", b"")


# ---- CSV -----------------------------------------------------------------------------------

def make_csv():
    t = "fuzz_csv"
    write(t, "simple", "label,text\n1,good movie\n0,bad movie\n")
    write(t, "rfc4180", "\ufefflabel,text,extra\r\n1,plain,x\r\n\r\n-1,\"with, comma\",\"\"\r\n"
                        "pos,\"say \"\"hi\"\"\",y\nneg,\"two\r\nlines\nthree\",z\n\n0,,last")
    write(t, "lone_cr", "label,text\r1,a\r2,b")
    write(t, "quote_in_unquoted", "label,text\n1,ok\n1,bad \"quote\"\n")
    write(t, "junk_after_quote", "label,text\n1,ok\n1,\"multi\nline\" junk\n")
    write(t, "never_closed", "label,text\n1,ok\n1,\"never closed\n2,more\n")
    write(t, "too_many_fields", "label,text\n1,ok\n1,too,many\n")
    write(t, "empty", "")
    write(t, "blank_lines", "\n\r\n")


# ---- torch.save data.pkl (pickle protocol 2, as torch.save writes it) -------------------------

class Pickle:
    """Pickle opcodes by hand (the torch globals cannot be pickled without torch installed)."""

    def __init__(self):
        self.b = b"\x80\x02"

    def op(self, c):
        self.b += c
        return self

    def str(self, s):
        raw = s.encode("utf-8")
        return self.op(b"X" + struct.pack("<I", len(raw)) + raw)

    def glob(self, module, name):
        return self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def int1(self, v):
        return self.op(b"K" + bytes([v]))

    def tensor(self, key, dtype, numel, offset, sizes, strides):
        """_rebuild_tensor_v2; memo 0 must hold collections.OrderedDict."""
        self.glob("torch._utils", "_rebuild_tensor_v2").op(b"(")
        self.op(b"(").str("storage").glob("torch", dtype + "Storage").str(key).str("cpu")
        self.int1(numel).op(b"tQ").int1(offset).op(b"(")
        for s in sizes:
            self.int1(s)
        self.op(b"t(")
        for s in strides:
            self.int1(s)
        return self.op(b"t\x89h\x00)Rt" + b"R")

    def done(self):
        return self.b + b"."


def make_torch_pickle():
    t = "fuzz_torch_pickle"
    # torch.save(model.state_dict()): OrderedDict, SETITEMS, then BUILD with its _metadata.
    p = Pickle().glob("collections", "OrderedDict").op(b"q\x00)Rq\x01(")
    p.str("w").tensor("0", "Float", 6, 1, [2, 2], [1, 2])
    p.str("v").tensor("0", "Float", 6, 0, [3], [1]).op(b"u")
    p.op(b"}").str("_metadata").op(b"h\x00)R(").str("").op(b"}").str("version").int1(1)
    write(t, "state_dict", p.op(b"susb").done())
    # A plain dict (torch.save(dict(...)), Frost's model.pt) with bf16 and an nn.Parameter.
    p = Pickle().glob("collections", "OrderedDict").op(b"q\x000}(").str("p")
    p.glob("torch._utils", "_rebuild_parameter").tensor("0", "BFloat16", 2, 0, [2], [1])
    write(t, "parameter", p.op(b"\x88h\x00)R\x87Ru").done())
    # A nested checkpoint: {"model": {...}, "epoch": 3, "betas": (0.9, 0.999), "steps": [1, 2]}.
    p = Pickle().glob("collections", "OrderedDict").op(b"q\x000}(").str("model")
    p.op(b"}").str("w").tensor("0", "Long", 4, 0, [4], [1]).op(b"s")
    p.str("epoch").int1(3).str("betas").op(b"G" + struct.pack(">d", 0.9))
    p.op(b"G" + struct.pack(">d", 0.999) + b"\x86").str("steps").op(b"](").int1(1).int1(2)
    write(t, "nested", p.op(b"eu").done())
    # Near-valid: a view beyond its storage, an unknown global, an unknown opcode, truncated.
    p = Pickle().glob("collections", "OrderedDict").op(b"q\x000}").str("t")
    write(t, "view_outside", p.tensor("0", "Float", 6, 2, [2, 2], [1, 3]).op(b"s").done())
    write(t, "unknown_global", Pickle().glob("os", "system").str("ls").op(b"\x85R").done())
    write(t, "unknown_opcode", Pickle().op(b"\xff").done())
    write(t, "truncated", Pickle().glob("collections", "OrderedDict").b)
    # What torch.save itself wrote (tests/fixtures/make_torchscript_fixtures.py).
    with zipfile.ZipFile(os.path.join(ROOT, "tests", "fixtures",
                                      "ts_conv_bn_linear_ordered_dict.pt")) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        write(t, "torch_save_ordered_dict", z.read(name))


def main():
    make_safetensors()
    make_config()
    make_idx()
    make_wordpiece()
    make_csv()
    make_torch_pickle()
    return 0


if __name__ == "__main__":
    sys.exit(main())
