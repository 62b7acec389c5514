"""LoRA / QLoRA / gradient checkpointing / special tokens on the tiny offline models, trained on real JSQuAD rows."""

import functools
import warnings

import pytest
import torch
from peft import PeftModel
from torch.utils.checkpoint import checkpoint

from qgen.core.errors import QgenInputError
from qgen.data.jsquad import convert
from qgen.data.squad import read_squad
from qgen.models import lora as qpeft
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer, resolve
from qgen.models.lora_spec import LoraSpec
from qgen.models.tiny import TINY_MODELS
from qgen.training.config import TrainConfig

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

ARCH_TARGETS = {"tiny-t5": ["q", "v"], "tiny-gpt2": ["c_attn"], "tiny-gpt-neox": ["query_key_value"],
                "tiny-llama": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def examples(jsquad_valid):
    questions, _ = read_squad(jsquad_valid)
    return convert(questions[:200], "aqg_hl")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, examples):
    d = tmp_path_factory.mktemp("tiny")
    texts = [t for ex in examples for t in (ex.source, ex.target)]
    for name in TINY_MODELS:
        resolve(name, texts, d)
    return d


def make_spec(**kw) -> LoraSpec:
    """The LoraSpec of a training config with these settings (what a run hands the LoRA code)."""
    cfg = TrainConfig()
    for key, value in kw.items():
        group = next(g for g in ("model", "lora", "dist") if hasattr(getattr(cfg, g), key))
        setattr(getattr(cfg, group), key, value)
    return cfg.lora_spec()


def kind_of(name):
    return "seq2seq" if name == "tiny-t5" else "causal"


def batch_for(tok, name, examples, n=4, max_len=64):
    sequence_format = make_format(kind_of(name), tok, InputSpec(max_source_len=max_len, max_target_len=32, max_len=max_len, prompt_format="raw"))
    return sequence_format, sequence_format.collate([sequence_format.encode(ex) for ex in examples[:n]])


def loss_of(model, sequence_format, batch):
    logits, labels = sequence_format.logits(model, batch)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))


def train_steps(model, sequence_format, batch, steps=8, lr=3e-2):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = loss_of(model, sequence_format, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def frozen_snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


def lora_b(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}


def test_default_targets_per_architecture(tiny_dir):
    for name, expected in ARCH_TARGETS.items():
        model = load_model(str(tiny_dir / name), kind_of(name))
        assert qpeft.default_target_modules(model.config) == expected
        wrapped = qpeft.apply_peft(model, make_spec(lora_r=4))
        adapted = {n.rsplit(".", 1)[-1] for n, m in wrapped.named_modules() if hasattr(m, "lora_A")}
        assert adapted == set(expected)


def test_target_override_and_bad_target(tiny_dir):
    path = str(tiny_dir / "tiny-llama")
    wrapped = qpeft.apply_peft(load_model(path, "causal"), make_spec(lora_r=4, lora_target_modules=["k_proj", "o_proj"]))
    assert {n.rsplit(".", 1)[-1] for n, m in wrapped.named_modules() if hasattr(m, "lora_A")} == {"k_proj", "o_proj"}
    with pytest.raises(QgenInputError, match="q_proj"):  # the message lists the layers that do exist
        qpeft.apply_peft(load_model(path, "causal"), make_spec(lora_r=4, lora_target_modules=["c_attn"]))
    with pytest.raises(QgenInputError, match="lora-r"):
        qpeft.quantization_kwargs(make_spec(quantization="4bit"))


@pytest.mark.parametrize("name", TINY_MODELS)
def test_lora_trains_only_adapter_weights(tiny_dir, examples, name):
    path = str(tiny_dir / name)
    tok = load_tokenizer(path)
    torch.manual_seed(0)
    model = qpeft.apply_peft(load_model(path, kind_of(name)), make_spec(lora_r=8, lora_alpha=16, lora_dropout=0.0))
    sequence_format, batch = batch_for(tok, name, examples)
    frozen, b0 = frozen_snapshot(model), lora_b(model)
    assert b0 and all(v.abs().sum() == 0 for v in b0.values())  # LoRA B starts at zero: the wrapped model = the base
    losses = train_steps(model, sequence_format, batch)
    assert losses[-1] < losses[0] - 0.3
    assert all(not torch.equal(b0[n], v) for n, v in lora_b(model).items())
    assert all(torch.equal(frozen[n], p) for n, p in model.named_parameters() if n in frozen)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < n_train < 0.05 * sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-t5"])
def test_adapter_reload_and_merge_match(tiny_dir, examples, tmp_path, name):
    path = str(tiny_dir / name)
    tok = load_tokenizer(path)
    model = load_model(path, kind_of(name))
    cfg = make_spec(lora_r=8, lora_dropout=0.0, add_special_tokens=["<hl>", "<ans>"])  # <ans> is new: embeddings grow
    ids = qpeft.add_special_tokens(model, tok, list(cfg.added_tokens))
    assert ids[1] == len(tok) - 1 and model.get_input_embeddings().weight.shape[0] >= len(tok)
    model = qpeft.apply_peft(model, cfg, tok)
    sequence_format, batch = batch_for(tok, name, examples)
    batch["input_ids"][:, 1] = ids[1]  # the new token takes part, so its trained row matters below
    train_steps(model, sequence_format, batch, steps=4)
    model.eval()
    with torch.no_grad():
        want = sequence_format.logits(model, batch)[0]
    model.save_pretrained(tmp_path / "adapter")
    tok.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()

    # plain peft, as a user without qgen would load it (base grown to the saved tokenizer first)
    base = load_model(path, kind_of(name))
    base.resize_token_embeddings(len(load_tokenizer(str(tmp_path / "adapter"))))
    plain = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        torch.testing.assert_close(sequence_format.logits(plain, batch)[0], want)
    loaded, tok2 = qpeft.load_adapter_model(tmp_path / "adapter")
    assert tok2.convert_tokens_to_ids("<ans>") == ids[1]
    merged, _ = qpeft.load_adapter_model(tmp_path / "adapter", merge=True)
    assert not isinstance(merged, PeftModel)
    with torch.no_grad():
        torch.testing.assert_close(sequence_format.logits(loaded, batch)[0], want)
        torch.testing.assert_close(sequence_format.logits(merged, batch)[0], want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama", "tiny-t5"])
def test_new_special_token_row_trains_under_lora(tiny_dir, examples, name):
    """Only the added tokens' rows of the (frozen) embeddings move; T5's token sits in the encoder input only."""
    path = str(tiny_dir / name)
    tok = load_tokenizer(path)
    model = load_model(path, kind_of(name))
    cfg = make_spec(lora_r=4, lora_dropout=0.0, add_special_tokens=["<ans>"])
    (new,) = qpeft.add_special_tokens(model, tok, ["<ans>"])
    model = qpeft.apply_peft(model, cfg, tok)
    sequence_format, batch = batch_for(tok, name, examples, n=2)
    batch["input_ids"][:, 1] = new
    before = model.get_input_embeddings().token_adapter.trainable_tokens_delta["default"].detach().clone()
    train_steps(model, sequence_format, batch, steps=3)
    after = model.get_input_embeddings().token_adapter.trainable_tokens_delta["default"]
    assert not torch.equal(before, after)
    merged = model.merge_and_unload().get_input_embeddings().weight
    assert torch.equal(merged[new], after[0].detach())


def test_qlora_4bit_trains_on_cpu(tiny_dir, examples, tmp_path):
    import bitsandbytes as bnb

    path = str(tiny_dir / "tiny-llama")
    tok = load_tokenizer(path)
    cfg = make_spec(lora_r=8, lora_dropout=0.0, quantization="4bit", gradient_checkpointing=True)
    kwargs = qpeft.quantization_kwargs(cfg)
    assert kwargs["quantization_config"].bnb_4bit_quant_type == "nf4"
    assert kwargs["quantization_config"].bnb_4bit_use_double_quant is True
    model = load_model(path, "causal", **kwargs)
    q_layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert q_layers  # the projections really are 4-bit
    packed = {id(m): m.weight.detach().clone() for m in q_layers}
    model = qpeft.apply_peft(model, cfg, tok)
    sequence_format, batch = batch_for(tok, "tiny-llama", examples)
    b0 = lora_b(model)
    model.eval()
    with torch.no_grad():  # validation before training (step 0): must not cut the 4-bit layers out of backward
        sequence_format.logits(model, batch)
    losses = train_steps(model, sequence_format, batch)
    assert losses[-1] < losses[0] - 0.3
    assert all(not torch.equal(b0[n], v) for n, v in lora_b(model).items())
    assert all(torch.equal(packed[id(m)], m.weight) for m in q_layers)  # quantised base untouched
    model.eval()
    with torch.no_grad():
        want = sequence_format.logits(model, batch)[0]
    model.save_pretrained(tmp_path / "a")
    tok.save_pretrained(tmp_path / "a")
    again, _ = qpeft.load_adapter_model(tmp_path / "a", **qpeft.quantization_kwargs(cfg))
    qpeft.keep_cpu_4bit_trainable(again)  # same fp32 dequantising path as in training, not the bf16 CPU kernel
    with torch.no_grad():
        torch.testing.assert_close(sequence_format.logits(again, batch)[0], want)


def test_qlora_8bit_trains_on_cpu(tiny_dir, examples):
    path = str(tiny_dir / "tiny-gpt-neox")
    tok = load_tokenizer(path)
    cfg = make_spec(lora_r=8, lora_dropout=0.0, quantization="8bit")
    model = qpeft.apply_peft(load_model(path, "causal", **qpeft.quantization_kwargs(cfg)), cfg, tok)
    assert qpeft.is_quantized(model.get_base_model())
    sequence_format, batch = batch_for(tok, "tiny-gpt-neox", examples)
    b0 = lora_b(model)
    losses = train_steps(model, sequence_format, batch, steps=6)
    assert losses[-1] < losses[0]
    assert all(not torch.equal(b0[n], v) for n, v in lora_b(model).items())


def _grads(model, sequence_format, batch):
    model.zero_grad()
    loss = loss_of(model, sequence_format, batch)
    loss.backward()
    return loss.item(), {n: (None if p.grad is None else p.grad.clone()) for n, p in model.named_parameters()
                         if p.requires_grad}


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-t5"])
def test_gradient_checkpointing_same_loss_and_grads(tiny_dir, examples, name):
    path = str(tiny_dir / name)
    tok = load_tokenizer(path)
    sequence_format, batch = batch_for(tok, name, examples)
    results = []
    for gc in (False, True):
        torch.manual_seed(0)
        model = qpeft.apply_peft(load_model(path, kind_of(name)),
                                 make_spec(lora_r=4, lora_dropout=0.0, gradient_checkpointing=gc))
        with torch.no_grad():  # B = 0 would make A's gradient zero; give it a value so both factors are checked
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.02, generator=torch.Generator().manual_seed(hash(n) % 1000))
        model.train()
        results.append(_grads(model, sequence_format, batch))
    (l0, g0), (l1, g1) = results
    assert l0 == pytest.approx(l1, rel=1e-6)
    assert g0.keys() == g1.keys() and all(g is not None for g in g1.values())
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], atol=1e-6, rtol=1e-4)


def test_reentrant_checkpointing_trap_is_real(tiny_dir, examples):
    """Why qgen forces use_reentrant=False: reentrant checkpointing with frozen inputs leaves LoRA without gradient."""
    path = str(tiny_dir / "tiny-llama")
    tok = load_tokenizer(path)
    sequence_format, batch = batch_for(tok, "tiny-llama", examples)
    model = qpeft.apply_peft(load_model(path, "causal"), make_spec(lora_r=4, lora_dropout=0.0))
    model.get_base_model()._set_gradient_checkpointing(
        enable=True, gradient_checkpointing_func=functools.partial(checkpoint, use_reentrant=True))
    model.get_base_model().lm_head.weight.requires_grad_(True)  # something outside the blocks trains (modules_to_save)
    model.train()
    _, grads = _grads(model, sequence_format, batch)
    assert grads["base_model.model.lm_head.weight"] is not None
    assert all(g is None for n, g in grads.items() if "lora_" in n)  # backward "works", LoRA silently gets nothing


@pytest.mark.parametrize("damage, says", [("renamed", "adapter weights do not fit the base model"),
                                          ("nan", "holds NaN or infinite values")])
def test_an_adapter_that_does_not_fit_or_is_not_finite_is_refused(tiny_dir, tmp_path, damage, says):
    # issue 29: a LoRA weight peft could not place stayed as initialised (peft only warns), a NaN gave empty output
    from safetensors.torch import load_file, save_file

    path = str(tiny_dir / "tiny-t5")
    tok = load_tokenizer(path)
    qpeft.apply_peft(load_model(path, "seq2seq"), make_spec(lora_r=4), tok).save_pretrained(tmp_path / "a")
    tok.save_pretrained(tmp_path / "a")
    weights_file = tmp_path / "a" / "adapter_model.safetensors"
    weights = load_file(weights_file)
    key = next(k for k in weights if "lora_B" in k)
    if damage == "renamed":
        weights[key.replace("lora_B", "lora_X")] = weights.pop(key)
    else:
        weights[key] = torch.full_like(weights[key], float("nan"))
    save_file(weights, weights_file)
    with pytest.raises(QgenInputError) as e:
        qpeft.load_adapter_model(tmp_path / "a")
    assert str(e.value).startswith(f"{tmp_path / 'a'}: ") and says in str(e.value), str(e.value)
