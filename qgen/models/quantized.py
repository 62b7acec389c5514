"""GPTQ and AWQ checkpoints (e.g. TheBloke/StableBeluga2-70B-GPTQ) for scoring and generation, through GPT-QModel.

A checkpoint is GPTQ / AWQ when its config.json has `quantization_config.quant_method` gptq or awq. GPT-QModel
(`pip install 'qgen[gptq]'`, the library transformers itself now loads them with) reads it with its pure-torch
kernels on the CPU (`gptq_torch`, `awq_torch`) and picks its fastest kernel on a GPU. Without the extra, loading is one
error line saying what to install. The weights stay packed 4-bit; the layers compute in bf16 (GPT-QModel's kernels
take fp16 / bf16 only, so qgen's fp32 default becomes bf16 here) or the fp16 / bf16 asked for with --dtype.
"""

from __future__ import annotations

import contextlib
import io
import os

from qgen.core.errors import QgenInputError

METHODS = ("gptq", "awq")
GPTQMODEL_VERSION = "7.6.0"  # the version the tests ran with (setup.cfg's [gptq] extra pins it)
INSTALL = f"pip install 'qgen[gptq]' (GPT-QModel {GPTQMODEL_VERSION})"


def quant_method(config) -> str | None:
    """"gptq" / "awq" when the model's config says its weights are quantised so, else None."""
    qc = getattr(config, "quantization_config", None)
    method = qc.get("quant_method") if isinstance(qc, dict) else getattr(qc, "quant_method", None)
    method = str(getattr(method, "value", method) or "").lower()
    return method if method in METHODS else None


def import_gptqmodel():
    # GPT-QModel sizes a CPU worker pool from the core count and then asks its loader for 2 workers: on a machine
    # with 2 cores or fewer that is "requests 2 workers but parent 'cpu' only has 1"; 2 CPU workers avoid it.
    if (os.cpu_count() or 1) <= 3:
        os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its banner and version table
            import gptqmodel  # optional ([gptq] extra); imported only for a GPTQ / AWQ checkpoint
    except ImportError:
        return None
    return gptqmodel


def load_quantized(path: str, method: str, device: str, dtype, trust_remote_code: bool = False, verbose: bool = False):
    """The transformers model inside GPT-QModel's wrapper, on `device`, its float layers in `dtype`."""
    gptqmodel = import_gptqmodel()
    if gptqmodel is None:
        raise QgenInputError(f"a {method.upper()} checkpoint needs GPT-QModel: {INSTALL}", path=path)
    import torch  # torch: only for a quantised checkpoint
    from gptqmodel import BACKEND, GPTQModel  # as above

    on_cpu = str(device).startswith("cpu")
    if dtype == torch.float32:  # its kernels compute in fp16 / bf16 only; bf16 keeps fp32's range on the CPU
        dtype = torch.bfloat16
    backend = (BACKEND.GPTQ_TORCH if method == "gptq" else BACKEND.AWQ_TORCH) if on_cpu else BACKEND.AUTO
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())  # it prints configs
    with quiet:
        wrapped = GPTQModel.load(path, device=device, backend=backend, trust_remote_code=trust_remote_code,
                                 dtype=dtype)
    return wrapped.model
