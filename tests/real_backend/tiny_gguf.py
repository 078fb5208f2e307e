"""Write a tiny random-weight llama-architecture GGUF model (about 0.5 MB).

Needs only ``gguf`` and ``numpy``; nothing is downloaded. The model has a local
SentencePiece-style vocabulary with byte fallback and a ChatML-like chat template, so
llama.cpp's server can tokenize, apply the template and generate with it.

The output is garbage text, but deterministic in shape: dimension 0 of the residual
stream is held constant (no layer writes to it) and acts as a bias that pushes the
logits of control/byte tokens far down. Generation therefore samples only printable
pieces and never stops early on EOS: ``finish_reason`` is ``"length"`` unless a ``stop``
string matches (or a ``response_format`` grammar completes: then EOS is the only token
the grammar allows, and the answer ends with ``"stop"``).

Every printable ASCII character is a single token, so llama.cpp's JSON grammars
(``response_format``) can always be satisfied; newline and other bytes come from the
byte-fallback tokens.

``add_space_prefix`` is off. With SentencePiece's default (on), llama.cpp tokenizes the
text after a special token with a leading space (``<|im_start|>assistant`` ->
``<|im_start|>``, ``▁a``, ...); its ``response_format`` grammar starts with the literal
generation prompt ``<|im_start|>assistant`` + newline and is fed those prompt tokens first, so
the extra space made every ``response_format`` request fail with 400 "Failed to
initialize samplers: std::exception".

Command line: ``python -m tests.real_backend.tiny_gguf out.gguf``
"""

from __future__ import annotations

import sys
from pathlib import Path

import gguf
import numpy as np
import numpy.typing as npt

N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 128
N_CTX_TRAIN = 2048
SEED = 1234

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS_TEXT = (
    "the of and to in is it you that he was for on are with as his they be at "
    "one have this from or had by hot word but what some we can out other were all "
    "there when up use your how said an each she which do their time if will way "
    "about many then them write would like so these her long make thing see him two "
    "has look more day could go come did number sound no most people my over know "
    "water than call first who may down side been now find hello world test model "
    "answer question yes ok"
)

SPM_SPACE = "\u2581"  # '▁', SentencePiece's word-boundary marker


class _Vocab:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.scores: list[float] = []
        self.types: list[int] = []
        self._seen: set[str] = set()

    def add(self, piece: str, ttype: gguf.TokenType, score: float = 0.0) -> None:
        if piece in self._seen:
            return
        self._seen.add(piece)
        self.tokens.append(piece)
        self.types.append(int(ttype))
        self.scores.append(score)

    def __len__(self) -> int:
        return len(self.tokens)


def _build_vocab() -> tuple[_Vocab, int]:
    """Return the vocabulary and the number of special (control + byte) tokens."""
    tt = gguf.TokenType
    vocab = _Vocab()
    vocab.add("<unk>", tt.UNKNOWN)  # 0
    vocab.add("<s>", tt.CONTROL)  # 1 = BOS
    vocab.add("</s>", tt.CONTROL)  # 2 = EOS
    vocab.add("<|im_start|>", tt.CONTROL)  # 3
    vocab.add("<|im_end|>", tt.CONTROL)  # 4 = EOT
    for b in range(256):
        vocab.add(f"<0x{b:02X}>", tt.BYTE)
    n_special = len(vocab)
    for ch in [SPM_SPACE] + [chr(c) for c in range(0x21, 0x7F)]:
        vocab.add(ch, tt.NORMAL, -1000.0)
    for word in _WORDS_TEXT.split():
        piece = SPM_SPACE + word
        # every prefix must exist so SPM bigram merges can build the whole word
        for i in range(2, len(piece) + 1):
            vocab.add(piece[:i], tt.NORMAL, -float(100 - i))
    return vocab, n_special


def write_tiny_gguf(path: Path, *, seed: int = SEED) -> Path:
    """Write the tiny model to ``path`` (parent directories are created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab, n_special = _build_vocab()
    n_vocab = len(vocab)

    def rand(*shape: int, std: float = 1.0) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-random-llama")
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(vocab.tokens)
    w.add_token_scores(vocab.scores)
    w.add_token_types(vocab.types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_eot_token_id(4)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)  # needed for response_format, see the module docstring
    w.add_chat_template(CHAT_TEMPLATE)

    # Dimension 0 of the residual stream is a constant "bias" lane (see module docstring).
    emb = rand(n_vocab, N_EMBD)
    emb[:, 0] = 3.0
    w.add_tensor("token_embd.weight", emb)  # ggml ne = [n_embd, n_vocab]
    kv_dim = N_EMBD // N_HEAD * N_HEAD_KV
    for i in range(N_LAYER):
        blk = f"blk.{i}."
        w.add_tensor(blk + "attn_norm.weight", np.ones(N_EMBD, np.float32))
        w.add_tensor(blk + "attn_q.weight", rand(N_EMBD, N_EMBD, std=0.3))
        w.add_tensor(blk + "attn_k.weight", rand(kv_dim, N_EMBD, std=0.3))
        w.add_tensor(blk + "attn_v.weight", rand(kv_dim, N_EMBD, std=0.3))
        attn_out = rand(N_EMBD, N_EMBD, std=0.1)
        attn_out[0, :] = 0.0
        w.add_tensor(blk + "attn_output.weight", attn_out)
        w.add_tensor(blk + "ffn_norm.weight", np.ones(N_EMBD, np.float32))
        w.add_tensor(blk + "ffn_gate.weight", rand(N_FF, N_EMBD, std=0.3))
        w.add_tensor(blk + "ffn_up.weight", rand(N_FF, N_EMBD, std=0.3))
        down = rand(N_EMBD, N_FF, std=0.1)
        down[0, :] = 0.0
        w.add_tensor(blk + "ffn_down.weight", down)
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    out_w = rand(n_vocab, N_EMBD, std=0.3)
    out_w[:, 0] = 0.0
    out_w[:n_special, 0] = -8.0  # suppress control and byte tokens
    w.add_tensor("output.weight", out_w)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path("tiny.gguf")
    write_tiny_gguf(out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
