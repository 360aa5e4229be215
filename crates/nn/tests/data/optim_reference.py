"""Reference values for crates/nn/tests/optim.rs, recorded from PyTorch.

Run: python3 crates/nn/tests/data/optim_reference.py
It prints Rust constants to paste into the test. Every input is exactly representable in f32
(parameters and gradients are small dyadic fractions; hyperparameters are rounded to f32
first), so both sides start from identical numbers. Optimizers run on the CPU with
foreach=False (PyTorch's single-tensor path, the one loam follows op for op).
"""

import numpy as np
import torch

torch.set_default_dtype(torch.float32)


def f32(x):
    """The f32 nearest to x, as the Python float both sides use."""
    return float(np.float32(x))


def init(i, salt):
    """Initial parameter value i: ((5i + salt) mod 11 − 5)/4."""
    return ((5 * i + salt) % 11 - 5) / 4


def grad(i, t, salt):
    """Gradient value i at step t: ((7i + 13t + salt) mod 17 − 8)/8."""
    return ((7 * i + 13 * t + salt) % 17 - 8) / 8


SHAPES = {"w": ([3, 4], 1), "b": ([4], 2)}  # name: (shape, salt)
STEPS = 5
SKIP = {("b", 1)}  # (param, step) pairs without a gradient: PyTorch skips the parameter


def params():
    out = {}
    for name, (shape, salt) in SHAPES.items():
        n = int(np.prod(shape))
        out[name] = torch.tensor([init(i, salt) for i in range(n)], dtype=torch.float32).reshape(shape).requires_grad_()
    return out


def set_grads(ps, t):
    for name, (shape, salt) in SHAPES.items():
        p = ps[name]
        if (name, t) in SKIP:
            p.grad = None
        else:
            n = p.numel()
            p.grad = torch.tensor([grad(i, t, salt) for i in range(n)], dtype=torch.float32).reshape(shape)


def rust_values(t):
    return "[" + ", ".join(str(np.float32(x)) for x in t.detach().reshape(-1).tolist()) + "]"


def emit(const, ps):
    print(f"const {const}_W: [f32; 12] = {rust_values(ps['w'])};")
    print(f"const {const}_B: [f32; 4] = {rust_values(ps['b'])};")


def adamw():
    ps = params()
    groups = [{"params": [ps["w"]], "weight_decay": f32(0.1)}, {"params": [ps["b"]], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=f32(1e-2), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8), foreach=False)
    for t in range(STEPS):
        if t == 3:
            for g in opt.param_groups:
                g["lr"] = f32(5e-3)
        set_grads(ps, t)
        opt.step()
        if t in (0, STEPS - 1):
            emit(f"ADAMW_STEP{t + 1}", ps)


def sgd(const, **kw):
    ps = params()
    wd = kw.pop("weight_decay", 0.0)
    groups = [{"params": [ps["w"]], "weight_decay": wd}, {"params": [ps["b"]], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, foreach=False, **kw)
    for t in range(STEPS):
        set_grads(ps, t)
        opt.step()
    emit(const, ps)


def clip():
    ps = params()
    set_grads(ps, 0)
    norm = torch.nn.utils.clip_grad_norm_([ps["w"], ps["b"]], max_norm=1.0, foreach=False)
    print(f"const CLIP_NORM: f32 = {str(np.float32(norm.item()))};")


print(f"// Recorded with torch {torch.__version__} by crates/nn/tests/data/optim_reference.py.")
adamw()
sgd("SGD_PLAIN", lr=f32(0.1))
sgd("SGD_MOMENTUM", lr=f32(0.1), momentum=f32(0.9))
sgd("SGD_DAMPENING", lr=f32(0.1), momentum=f32(0.9), dampening=f32(0.25))
sgd("SGD_NESTEROV", lr=f32(0.1), momentum=f32(0.9), nesterov=True)
sgd("SGD_DECAY", lr=f32(0.1), momentum=f32(0.9), weight_decay=f32(0.01))
clip()
