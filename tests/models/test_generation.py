"""Generation: a batch of prompts equals each alone; sampling, EOS, seeds, memory, errors."""

from __future__ import annotations

import math

import pytest
import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.models.generation import generate, next_token_distribution, state_bytes, stream
from fastweights.models.model import mixer_accepts

V = 11
# every kind of state: tensors (delta), FastWeightState (deltanet), a cell's NamedTuple (srwm),
# key/value caches that grow (softmax, transformer), nn.LSTM's (h, c) with the batch dim second
KINDS = ["delta", "deltanet", "srwm", "softmax", "transformer", "lstm"]


def _lm(mixer: str = "delta", seed: int = 0, **fields: object) -> FWPModel:
    torch.manual_seed(seed)
    if "impl" in mixer_accepts(mixer):
        fields.setdefault("impl", "recurrent")  # one token at a time: the cheapest form
    config = ModelConfig(mixer=mixer, d_model=16, n_layers=2, n_heads=2, mlp_ratio=1,
                         vocab_size=V, **fields)  # fmt: skip
    return FWPModel(config).eval()


def _prompts(*lengths: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, V, (n,), generator=g) for n in lengths]


def _fixed(probs: list[float]) -> FWPModel:
    """A language model whose next-token distribution is ``probs`` at every position."""
    model = FWPModel(ModelConfig(mixer="delta", d_model=8, n_layers=1, n_heads=1, mlp_ratio=0,
                                 vocab_size=len(probs), impl="recurrent"))  # fmt: skip
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor(probs).log())
    return model.eval()


@pytest.mark.parametrize("mixer", KINDS)
def test_a_batch_of_prompts_of_different_lengths_equals_each_alone(mixer: str) -> None:
    model, prompts = _lm(mixer), _prompts(3, 6, 1, 6)
    greedy = generate(model, prompts, 5, temperature=0)
    sampled = generate(model, prompts, 5, generator=7)
    for i, prompt in enumerate(prompts):
        assert torch.equal(greedy[i], generate(model, [prompt], 5, temperature=0)[0])
        assert torch.equal(sampled[i], generate(model, [prompt], 5, generator=7 + i)[0])
        assert torch.equal(greedy[i][: len(prompt)], prompt) and len(greedy[i]) == len(prompt) + 5
    seeds = (3, 1, 4, 1)
    listed = generate(
        model, prompts, 5, generator=[torch.Generator().manual_seed(s) for s in seeds]
    )
    for prompt, sequence, seed in zip(prompts, listed, seeds, strict=True):
        alone = generate(model, [prompt], 5, generator=[torch.Generator().manual_seed(seed)])
        assert torch.equal(sequence, alone[0])  # one generator per sequence: its draws alone


def test_greedy_tokens_are_the_argmax_of_the_full_forward() -> None:
    model = _lm("delta")
    for sequence in generate(model, _prompts(2, 5), 6, temperature=0):
        for t in range(sequence.numel() - 6, sequence.numel()):
            logits, _ = model(sequence[None, :t])
            assert sequence[t] == logits[0, -1].argmax()


def test_top_k_one_and_a_tiny_top_p_are_greedy() -> None:
    model, prompts = _lm("srwm"), _prompts(4, 2, 7)
    greedy = generate(model, prompts, 6, temperature=0)
    for options in ({"top_k": 1}, {"top_p": 1e-9}, {"top_k": 1, "top_p": 0.5}):
        sampled = generate(model, prompts, 6, temperature=1.5, generator=0, **options)
        assert all(torch.equal(a, b) for a, b in zip(sampled, greedy, strict=True)), options


def test_the_distribution_of_top_k_top_p_and_temperature() -> None:
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])
    logits = probs.log()

    def close(options: dict, expected: list[float]) -> None:
        got = next_token_distribution(logits, **options)
        torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))

    close({"temperature": 1.0}, probs.double().tolist())
    close({"temperature": 1.0, "top_k": 2}, [0, 0.625, 0, 0.375])
    close({"temperature": 1.0, "top_k": 9}, probs.double().tolist())  # k beyond V: all
    close({"temperature": 1.0, "top_p": 0.6}, [0, 0.625, 0, 0.375])  # 0.5 < 0.6 <= 0.8
    close({"temperature": 1.0, "top_p": 0.9}, [0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95])
    close({"temperature": 1.0, "top_p": 0.5}, [0, 1, 0, 0])
    close({"temperature": 0}, [0, 1, 0, 0])
    sharp = torch.softmax(logits.double() / 0.5, 0)
    close({"temperature": 0.5}, sharp.tolist())
    close({"temperature": 1.0, "top_k": 3, "top_p": 0.6}, [0, 0.625, 0, 0.375])


def test_sampled_tokens_stay_in_the_support_at_its_frequencies() -> None:
    model = _fixed([0.15, 0.5, 0.05, 0.3])
    prompts = [torch.tensor([0])] * 50

    def counts(**options: object) -> torch.Tensor:
        sequences = generate(model, prompts, 20, generator=1, **options)
        new = torch.cat([s[1:] for s in sequences])  # 1000 draws
        return torch.bincount(new, minlength=4).double() / new.numel()

    free = counts()
    assert (free > 0).all()
    torch.testing.assert_close(free, torch.tensor([0.15, 0.5, 0.05, 0.3]).double(), atol=0.05,
                               rtol=0)  # fmt: skip
    for options in ({"top_k": 2}, {"top_p": 0.6}):
        restricted = counts(**options)
        assert restricted[0] == 0 and restricted[2] == 0, options
        assert abs(restricted[1] - 0.625) < 0.05, options


@pytest.mark.parametrize("sampled", [False, True])
def test_eos_stops_one_sequence_while_the_others_go_on(sampled: bool) -> None:
    model, prompts = _lm("delta"), _prompts(3, 5, 2, 4, 6, 1)
    options = {"generator": 2} if sampled else {"temperature": 0}
    free = generate(model, prompts, 8, **options)
    news = [s[p.numel() :].tolist() for s, p in zip(free, prompts, strict=True)]
    # a token that some sequence emits before its last step and some other never emits
    emitted = [t for t in range(V) if any(t in n[:-1] for n in news)]
    eos = next(t for t in emitted if any(t not in n for n in news))
    stopped = generate(model, prompts, 8, eos_token_id=eos, **options)
    cut = []
    for s, f, n in zip(stopped, free, news, strict=True):
        end = f.numel() - len(n) + (n.index(eos) + 1 if eos in n else len(n))
        assert torch.equal(s, f[:end])  # the same tokens, cut after the first EOS
        cut.append(eos in n)
    assert any(cut) and not all(cut)


def test_generation_stops_when_every_sequence_has_stopped() -> None:
    model = _fixed([1e-6, 1e-6, 1 - 2e-6])  # token 2 almost surely
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape))
    out = generate(model, [torch.tensor([0, 1, 0]), torch.tensor([0, 1])], 50, eos_token_id=2,
                   temperature=0)  # fmt: skip
    assert [s[-1].item() for s in out] == [2, 2] and [s.numel() for s in out] == [4, 3]
    assert len(calls) == 2  # the two prefills (lengths 3 and 2), no decode step


def test_seeds_reproduce_and_differ() -> None:
    model, prompts = _lm("delta"), _prompts(4, 3)
    a = generate(model, prompts, 10, generator=torch.Generator().manual_seed(5))
    b = generate(model, prompts, 10, generator=torch.Generator().manual_seed(5))
    c = generate(model, prompts, 10, generator=6)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    state = torch.random.get_rng_state()
    generate(model, prompts, 3, generator=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # no global random state touched


@pytest.mark.parametrize(("mixer", "grows"), [("delta", False), ("deltanet", False),
                         ("srwm", False), ("softmax", True), ("transformer", True)])  # fmt: skip
def test_the_carried_states_stay_one_size_for_fast_weights(mixer: str, grows: bool) -> None:
    model = _lm(mixer)
    sizes = []  # after each call: the prefill, then one per new token but the last
    model.register_forward_hook(lambda module, args, out: sizes.append(state_bytes(out[1])))
    generate(model, torch.randint(0, V, (2, 5)), 101, temperature=0)
    after_10, after_100 = sizes[10], sizes[100]
    assert len(sizes) == 101 and after_10 > 0
    assert (after_100 > after_10) if grows else (after_100 == after_10)


def test_fwp_model_generate_keeps_its_tensor_form() -> None:
    model, prompt = _lm("delta"), torch.randint(0, V, (2, 4))
    out = model.generate(prompt, 3, temperature=0)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 7)
    assert torch.equal(out, torch.stack(generate(model, prompt, 3, temperature=0)))
    listed = model.generate(list(prompt), 3, temperature=0)
    assert isinstance(listed, list) and torch.equal(torch.stack(listed), out)
    assert isinstance(model.generate(prompt, 3, temperature=0, eos_token_id=0), list)


def test_stream_yields_each_token_in_prompt_order() -> None:
    model, prompts = _lm("delta"), _prompts(2, 4, 3)
    events = list(stream(model, prompts, 4, temperature=0))
    assert [e.sequence for e in events] == [0, 1, 2] * 4
    out = generate(model, prompts, 4, temperature=0)
    for i, sequence in enumerate(out):
        assert sequence[-4:].tolist() == [e.token for e in events if e.sequence == i]


BAD = [
    ({"prompts": [torch.tensor([], dtype=torch.long)]}, ValueError, "prompt 0 is empty"),
    ({"prompts": torch.zeros(2, 0, dtype=torch.long)}, ValueError, "is empty"),
    ({"prompts": []}, ValueError, "no prompts"),
    ({"prompts": torch.tensor([1, 2])}, ValueError, r"\[B, T\]"),
    ({"prompts": [torch.tensor([1.0])]}, TypeError, "integer token ids"),
    ({"prompts": [torch.tensor([1, -1])]}, ValueError, "outside the vocabulary"),
    ({"prompts": [torch.tensor([3, V])]}, ValueError, "outside the vocabulary 0..10"),
    ({"max_new_tokens": -1}, ValueError, "max_new_tokens"),
    ({"top_p": 0.0}, ValueError, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, ValueError, "top_p"),
    ({"top_k": 0}, ValueError, "top_k must be an integer >= 1"),
    ({"temperature": -1.0}, ValueError, "temperature"),
    ({"temperature": math.nan}, ValueError, "temperature"),
    ({"temperature": 0, "top_k": 3}, ValueError, "greedy"),
    ({"eos_token_id": V}, ValueError, "eos_token_id"),
    ({"generator": [torch.Generator()]}, ValueError, "expected 2 generators"),
    ({"generator": "seed"}, TypeError, "generator must be"),
]


@pytest.mark.parametrize(("change", "error", "match"), BAD)
def test_bad_input_is_a_clear_error(change: dict, error: type, match: str) -> None:
    model = _lm("delta")
    args = {"prompts": _prompts(2, 3), "max_new_tokens": 2, **change}
    with pytest.raises(error, match=match):
        stream(model, **args)  # raised at the call, before the first token
    with pytest.raises(error, match=match):
        generate(model, **args)


def test_a_model_that_is_not_a_language_model_is_refused() -> None:
    config = ModelConfig(mixer="delta", d_model=8, n_heads=1, n_layers=1, vocab_size=V, pool="last")
    with pytest.raises(ValueError, match="needs a language model"):
        generate(FWPModel(config), _prompts(2), 1)
