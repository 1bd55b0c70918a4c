"""HR module (docs/method.md §4, paper Eq. 7-11) against independent per-layer / per-head loop implementations.

The references below use the modules' own weights but recompute everything in float64 with explicit
loops over layers, examples, heads and tokens: no batched trick of the library is reused.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from selfre.model.retainer import AttentionConnector, HierarchicalRetainer, LayerFFN, retain

D, HEADS, B, N = 8, 2, 2, 5
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])  # example 1: last two positions are padding


def make_states(layers: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(layers, B, N, D, generator=g)


def randomize(module: torch.nn.Module, seed: int = 1) -> None:
    """Non-trivial values everywhere (biases and LayerNorm affine included), so each one is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


# ---------------------------------------------------------------------------------------------------
# references


@torch.no_grad()
def ref_connector(
    conn: AttentionConnector, last: torch.Tensor, states: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """R_l = LayerNorm(concat_m softmax(Q_m K_mᵀ / sqrt(d/M)) V_m · W_hᵀ + b_h), one (l, b, m) at a time, M = HEADS."""
    wq, bq = conn.q.weight.double(), conn.q.bias.double()
    wk, bk = conn.k.weight.double(), conn.k.bias.double()
    wv, bv = conn.v.weight.double(), conn.v.bias.double()
    wo, bo = conn.out.weight.double(), conn.out.bias.double()
    gamma, beta, eps = conn.norm.weight.double(), conn.norm.bias.double(), conn.norm.eps
    layers, batch, n, d = states.shape
    m_heads = HEADS  # the encoder's head count M, not read back from the module under test
    dh = d // m_heads
    out = torch.zeros(layers, batch, n, d, dtype=torch.float64)
    for lay in range(layers):
        for b in range(batch):
            x_last = last[b].double()
            x_l = states[lay, b].double()
            q = x_last @ wq.T + bq
            k = x_l @ wk.T + bk
            v = x_l @ wv.T + bv
            heads = []
            for m in range(m_heads):
                cols = slice(m * dh, (m + 1) * dh)
                scores = q[:, cols] @ k[:, cols].T / math.sqrt(d / m_heads)
                for j in range(n):
                    if not mask[b, j]:
                        scores[:, j] = float("-inf")  # padding keys masked
                heads.append(torch.softmax(scores, dim=-1) @ v[:, cols])
            y = torch.cat(heads, dim=-1) @ wo.T + bo  # W_h
            for i in range(n):
                mu = y[i].mean()
                var = ((y[i] - mu) ** 2).mean()
                out[lay, b, i] = (y[i] - mu) / math.sqrt(var + eps) * gamma + beta
    return out


def gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2.0)))


@torch.no_grad()
def ref_ffn(ffn: LayerFFN, last: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """V_l = W_2^l gelu(W_1^l [T^L; R_l] + b_1^l) + b_2^l + T^L, one layer at a time (row-vector form)."""
    layers, _, _, d = r.shape
    out = []
    for lay in range(layers):
        # W_1^l (2d × d): its first d rows act on T^L (column block l of w1_last), the next d on R_l.
        w1 = torch.cat([ffn.w1_last[:, lay * d : (lay + 1) * d], ffn.w1_r[lay]], dim=0).double()
        x = torch.cat([last.double(), r[lay].double()], dim=-1)  # [T^L ; R_l]: B×n×2d
        h = gelu(x @ w1 + ffn.b1[lay, 0].double())
        out.append(h @ ffn.w2[lay].double() + ffn.b2[lay, 0].double() + last.double())
    return torch.stack(out)


@torch.no_grad()
def ref_gate_and_features(hr: HierarchicalRetainer, last, r, v):
    """G = softmax([T^L ; R_0 ; … ; R_L] W_g + b), C = G_0 T^L + Σ_l G_{l+1} V_l, token by token."""
    slots = r.shape[0] + 1
    d = last.shape[-1]
    w_g = hr.w_gate.detach().double().reshape(slots * d, slots)  # (L+2)d × (L+2)
    gate = torch.zeros(B, N, slots, dtype=torch.float64)
    feats = torch.zeros(B, N, d, dtype=torch.float64)
    for b in range(B):
        for i in range(N):
            x = torch.cat([last[b, i].double()] + [r[lay, b, i].double() for lay in range(r.shape[0])])
            g = torch.softmax(x @ w_g + hr.b_gate.detach().double(), dim=0)
            gate[b, i] = g
            c = g[0] * last[b, i].double()
            for lay in range(r.shape[0]):
                c = c + g[lay + 1] * v[lay, b, i].double()
            feats[b, i] = c
    return gate, feats


# ---------------------------------------------------------------------------------------------------
# Eq. 11: retain


def test_retain_one_hot_and_mixed_gates():
    last = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # B=1, n=2, d=2
    v = torch.tensor([[[[10.0, 20.0], [30.0, 40.0]]], [[[-1.0, -2.0], [-3.0, -4.0]]]])  # L+1 = 2 layers
    gate = torch.zeros(1, 2, 3)
    gate[..., 0] = 1
    assert torch.equal(retain(gate, last, v), last)  # column 0 -> T^L exactly
    for lay in range(2):
        gate = torch.zeros(1, 2, 3)
        gate[..., lay + 1] = 1
        assert torch.equal(retain(gate, last, v), v[lay])  # column l+1 -> V_l exactly
    # token 0: .5·(1,2) + .25·(10,20) + .25·(-1,-2) = (.5+2.5-.25, 1+5-.5) = (2.75, 5.5)
    # token 1: .2·(3,4) + .0·(30,40) + .8·(-3,-4) = (.6-2.4, .8-3.2) = (-1.8, -2.4)
    gate = torch.tensor([[[0.5, 0.25, 0.25], [0.2, 0.0, 0.8]]])
    torch.testing.assert_close(retain(gate, last, v), torch.tensor([[[2.75, 5.5], [-1.8, -2.4]]]))


# ---------------------------------------------------------------------------------------------------
# Eq. 7: attention connector


def test_attention_connector_matches_loop_reference():
    torch.manual_seed(0)
    conn = AttentionConnector(D, HEADS)
    randomize(conn)
    states = make_states(3)  # L+1 = 3
    last = states[-1]
    got = conn(last, states, MASK)
    assert got.shape == (3, B, N, D)
    torch.testing.assert_close(got.double(), ref_connector(conn, last, states, MASK), rtol=1e-4, atol=1e-5)


def test_attention_connector_ignores_padding_keys():
    torch.manual_seed(0)
    conn = AttentionConnector(D, HEADS)
    states = make_states(3)
    changed = states.clone()
    changed[:, 1, 3:] = 1e3  # rewrite the padded keys/values of example 1 in every layer
    a = conn(states[-1], states, MASK)
    b = conn(states[-1], changed, MASK)
    torch.testing.assert_close(a[:, 1], b[:, 1])


@pytest.mark.parametrize("layers", [1, 3, 7])
def test_attention_connector_is_one_batched_attention_call(monkeypatch, layers):
    calls = []
    real = F.scaled_dot_product_attention

    def counting(q, k, v, *args, **kwargs):
        calls.append(q.shape)
        return real(q, k, v, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    conn = AttentionConnector(D, HEADS)
    states = make_states(layers)
    conn(states[-1], states, MASK)
    assert len(calls) == 1  # all L+1 layers in a single call, never a Python loop of calls
    assert calls[0][0] == layers * B  # layers stacked into the batch axis


def test_attention_connector_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        AttentionConnector(10, 3)


# ---------------------------------------------------------------------------------------------------
# Eq. 8: per-layer FFN


def test_layer_ffn_matches_per_layer_loop():
    torch.manual_seed(0)
    ffn = LayerFFN(D, 3)
    randomize(ffn)
    assert ffn.w1_last.shape == (D, 3 * D)
    assert ffn.w1_r.shape == (3, D, D)
    states = make_states(3, seed=2)
    r = make_states(3, seed=3)
    got = ffn(states[-1], r)
    assert got.shape == (3, B, N, D)
    torch.testing.assert_close(got.double(), ref_ffn(ffn, states[-1], r), rtol=1e-4, atol=1e-5)


def test_layer_ffn_layers_have_separate_weights():
    # Zero every weight; give layer 1 alone a bias b2: only V_1 moves away from T^L (the residual).
    ffn = LayerFFN(D, 3)
    with torch.no_grad():
        for p in ffn.parameters():
            p.zero_()
        ffn.b2[1] = 1.0
    last = make_states(1)[0]
    v = ffn(last, make_states(3))
    torch.testing.assert_close(v[0], last)
    torch.testing.assert_close(v[2], last)
    torch.testing.assert_close(v[1], last + 1.0)


# ---------------------------------------------------------------------------------------------------
# Eq. 7-11 together


def test_hierarchical_retainer_matches_reference_end_to_end():
    torch.manual_seed(0)
    hr = HierarchicalRetainer(D, HEADS, num_layers=2)  # T^0..T^2
    randomize(hr)
    states = make_states(3, seed=4)
    out = hr(tuple(states), MASK)
    with torch.no_grad():
        r = ref_connector(hr.connector, states[-1], states, MASK)
        v = ref_ffn(hr.ffn, states[-1], r)
        gate, feats = ref_gate_and_features(hr, states[-1], r, v)
    assert out.gate.shape == (B, N, 4)  # L+2 columns
    torch.testing.assert_close(out.gate.double(), gate, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.features.double(), feats, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("connector", ["attention", "identity"])
def test_gate_shape_and_rows_sum_to_one(connector):
    hr = HierarchicalRetainer(D, HEADS, num_layers=4, connector=connector)
    out = hr(tuple(make_states(5)), MASK)
    assert out.gate.shape == (B, N, 6)
    assert out.features.shape == (B, N, D)
    torch.testing.assert_close(out.gate.sum(-1), torch.ones(B, N))
    assert bool((out.gate > 0).all())


def test_identity_connector_uses_hidden_states_directly(monkeypatch):
    torch.manual_seed(0)
    hr = HierarchicalRetainer(D, HEADS, num_layers=2, connector="identity")
    randomize(hr)
    assert hr.connector is None
    states = make_states(3, seed=5)
    seen = {}
    real_forward = hr.ffn.forward

    def spy(last, r):
        seen["r"] = r
        return real_forward(last, r)

    monkeypatch.setattr(hr.ffn, "forward", spy)
    out = hr(tuple(states), MASK)
    assert torch.equal(seen["r"], states)  # R_l = T^l
    with torch.no_grad():
        v = ref_ffn(hr.ffn, states[-1], states)
        gate, feats = ref_gate_and_features(hr, states[-1], states, v)
    torch.testing.assert_close(out.gate.double(), gate, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.features.double(), feats, rtol=1e-4, atol=1e-5)


def test_unknown_connector_raises():
    # spp_target / spp_alpha / weighting / head reject unknown values; hr_connector must too. Today any value
    # other than "attention" (a typo such as "atention") silently builds the identity connector (R_l = T^l).
    with pytest.raises(ValueError, match="connector"):
        HierarchicalRetainer(D, HEADS, num_layers=2, connector="atention")


def hr_param_formula(d: int, num_layers: int, connector: str) -> int:
    """Derived from docs/method.md §4 with S = L+1 hidden states:
    connector (shared): W_q, W_k, W_v, W_h (d×d + d each) + LayerNorm (2d)      = 4(d² + d) + 2d
    FFN per layer:      W_1^l (2d×d) + b_1^l (d) + W_2^l (d×d) + b_2^l (d)       = S(3d² + 2d)
    gate:               W_g ((S+1)d × (S+1)) + bias (S+1)                          = (S+1)²d + (S+1)
    """
    s = num_layers + 1
    conn = 4 * (d * d + d) + 2 * d if connector == "attention" else 0
    return conn + s * (3 * d * d + 2 * d) + (s + 1) ** 2 * d + (s + 1)


@pytest.mark.parametrize("d,heads,layers", [(8, 2, 2), (32, 4, 4), (384, 12, 6)])
@pytest.mark.parametrize("connector", ["attention", "identity"])
def test_hr_parameter_count(d, heads, layers, connector):
    hr = HierarchicalRetainer(d, heads, layers, connector)
    assert sum(p.numel() for p in hr.parameters()) == hr_param_formula(d, layers, connector)


def test_hr_parameter_count_hand_value():
    # d = 8, L = 2 (S = 3): connector 4·72 + 16 = 304; FFN 3·(192 + 16) = 624; gate 16·8 + 4 = 132 -> 1060
    assert sum(p.numel() for p in HierarchicalRetainer(8, 2, 2).parameters()) == 1060
