#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ from files in the repository
(run from the repository root; the output is committed, so `make fuzz` needs no Python). Seeds are small:
libFuzzer mutates them, so a few valid inputs of each shape matter more than size."""
import json, os, struct, glob

OUT = "tests/fuzz/corpus"
SEP = b"\n--8<--\n"  # fuzz.h FUZZ_SEP


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read(p, limit=None):
    with open(p, "rb") as f:
        b = f.read()
    return b[:limit] if limit else b


# YAML configs: the shipped presets and the test fixtures (good and bad)
for p in sorted(glob.glob("configs/*.yaml") + glob.glob("tests/configs/good/*.yaml") +
                glob.glob("tests/configs/bad/*.yaml")):
    b = read(p, 4096)
    name = p.replace("/", "_")
    put("yaml", name, b)
    put("config_check", name, b)

# safetensors: a tiny header of every dtype, metadata, and the F32/F16 test checkpoints cut to a few tensors
def st(tensors, meta=None, pad=8):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % pad)
    return struct.pack("<Q", len(h)) + h + data

put("safetensors", "f32", st([("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                              ("b", "F32", [], struct.pack("<f", 5))], {"format": "pt"}))
put("safetensors", "halves", st([("h", "F16", [3], struct.pack("<3H", 0x3c00, 0x7c00, 0x0001)),
                                 ("bf", "BF16", [1, 2], struct.pack("<2H", 0x3f80, 0xff80))]))
put("safetensors", "ints", st([("i", "I64", [2], struct.pack("<2q", 1, -1)), ("u", "U8", [3], b"abc"),
                               ("bool", "BOOL", [1], b"\x01"), ("z", "F32", [0], b"")]))
put("safetensors", "empty", st([]))
for p in ("tests/ref/hf-tiny/model.safetensors", "tests/ref/hf-tiny-f16/model.safetensors"):
    b = read(p)
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    keep = [k for k in sorted(hdr) if k != "__metadata__"][:3]
    ts = []
    for k in keep:
        s, e = hdr[k]["data_offsets"]
        ts.append((k, hdr[k]["dtype"], hdr[k]["shape"], b[8 + n + s:8 + n + e]))
    put("safetensors", os.path.basename(os.path.dirname(p)), st(ts, hdr.get("__metadata__")))

# config.json of a checkpoint
put("config_json", "hf-tiny", read("tests/ref/hf-tiny/config.json"))
put("config_json", "minimal", json.dumps({"n_layer": 2, "n_head": 2, "n_embd": 8, "n_positions": 16,
                                           "vocab_size": 257}))

# GPT-2 tokenizer files: the byte alphabet, a few merges, <|endoftext|>
def gpt2_bytes():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

B = gpt2_bytes()
def tok(s):
    return "".join(B[b] for b in (s if isinstance(s, bytes) else s.encode()))

merges = [("t", "h"), ("th", "e"), (" ", "t"), (" t", "he"), ("e", "r")]
vocab = {tok(bytes([b])): b for b in range(256)}
for l, r in merges:
    vocab[tok(l) + tok(r)] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
enc = json.dumps(vocab, ensure_ascii=False).encode()
bpe = ("#version: 0.2\n" + "".join(f"{tok(l)} {tok(r)}\n" for l, r in merges)).encode()
put("gpt2_tok", "small", enc + SEP + bpe)
put("gpt2_tok", "no-merges", json.dumps({tok(bytes([b])): b for b in range(256)}, ensure_ascii=False).encode() + SEP)
put("tok_dir", "hf-pair", enc + SEP + bpe)
words = {"<|endoftext|>": 0, "<|unk|>": 1, "It": 2, "is": 3, "a": 4, "truth": 5, ",": 6, ".": 7}
put("tok_dir", "words", b"W" + json.dumps(words).encode() + SEP)

# tiktoken ranks: the first 300 lines of r50k_base (the bytes and the first merges)
lines = read("corpora/gpt2/r50k_base.tiktoken").split(b"\n")
put("tiktoken", "r50k-300", b"\n".join(lines[:300]) + b"\n")
put("tiktoken", "r50k-bytes", b"\n".join(lines[:256]) + b"\n")

# classification TSV (first byte: flags, see fuzz_tsv.c) and instruction data
for p in sorted(glob.glob("tests/data/finetune/*.tsv")):
    put("tsv", os.path.basename(p), b"\x00" + read(p, 2048))
    put("tsv", "t-" + os.path.basename(p), b"\x13" + read(p, 2048))
put("tsv", "neg-pos", b"\x22label\ttext\nneg\tnot good\npos\tvery good\nneg\tbad\n")
for p in sorted(glob.glob("tests/data/finetune/*.json*")):
    put("jsonl", os.path.basename(p), read(p, 4096))
put("jsonl", "tasks_train.jsonl", b"\n".join(read("corpora/instruct/tasks_train.jsonl").split(b"\n")[:6]) + b"\n")

# lessons and key scripts
for p in sorted(glob.glob("docs/lessons/*.md")):
    put("lesson", os.path.basename(p), read(p, 4096))
for p in sorted(glob.glob("tests/tui_scripts/*.txt")):
    put("script", os.path.basename(p), read(p))
for p in sorted(glob.glob("tests/inputs/script_*.txt")):
    put("script", os.path.basename(p), read(p))
put("script", "every-command", "timeout 2.5\nkey C-n\nkey F12\nkey Space\ntype h\xc3\xa9 there\nwait-text x\n"
    "wait-steps 3\nsleep-frames 2\ndump d\nstats s\nresize 80 24\nstage 2\npause\ndemo-finetune\nquit\n")
