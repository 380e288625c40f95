"""Where the trainer runs, and what each device gets: --device auto|cpu|cuda, --dtype auto|fp32|bf16.

On CUDA: bf16 autocast when the GPU supports it (`--dtype auto`), TF32 matmuls for what stays in
fp32, the fused AdamW kernel, batches copied from pinned memory without blocking. On the CPU: fp32
unless bf16 is asked for, the plain AdamW loop, exactly as before these options existed.

    device = resolve_device("auto")          # torch.device("cuda") when one is visible, else cpu
    dtype = resolve_dtype("auto", device)    # "bf16" on a bf16-capable GPU, else "fp32"
    with autocast(device, dtype): loss = ...
"""
import torch

from transforms.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "bf16")


def resolve_device(name: str) -> torch.device:
    """The torch.device for --device; ConfigError for cuda where torch sees no GPU."""
    if name not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ConfigError(f"--device cuda: torch {torch.__version__} ({build}) sees no GPU: install a CUDA build "
                          f"of torch (pip install 'pileprep[train]' accepts torch>=2.1,<3) or pass --device cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> str:
    """fp32 or bf16: `auto` is bf16 on a GPU that computes in it natively, fp32 elsewhere."""
    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    if name != "auto":
        return name
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def prepare(device: torch.device) -> None:
    """Per-device switches set once before training."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast: TF32 on Ampere and later
        torch.backends.cudnn.allow_tf32 = True


def autocast(device: torch.device, dtype: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")


def fused_adamw(device: torch.device) -> bool:
    """Whether to ask AdamW for its fused kernel: on CUDA (one kernel per step instead of a loop)."""
    return device.type == "cuda"


def to_device(batch: tuple[torch.Tensor, torch.Tensor], device: torch.device):
    if device.type != "cuda":
        return batch
    return tuple(t.pin_memory().to(device, non_blocking=True) for t in batch)


def rng_state(device: torch.device) -> dict:
    """The device's generator state, to checkpoint beside the CPU's (empty on the CPU)."""
    return {"cuda": torch.cuda.get_rng_state()} if device.type == "cuda" else {}


def set_rng_state(state: dict, device: torch.device) -> None:
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])
