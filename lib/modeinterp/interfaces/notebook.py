"""What every notebook does once its parameters are checked: the device, seeds and threads, the plot style."""
from pathlib import Path

import torch

from . import plots
from ..method import train
from ..support import parallel
from ..support.runtime import device as check_device, setup


def start(seed: int, device: str, out_dir, processes: int = 1) -> tuple[torch.device, Path]:
    """Check the device (and that it holds `processes`; 0: every free core or GPU, see
    parallel.notebook_processes) and $MODEINTERP_CACHE, seed everything on one thread, set
    the plot style and print 'parameters ok'; return the device and the output folder."""
    dev = check_device(device)
    parallel.notebook_processes(processes, dev)
    train.cache_mode()
    setup(seed)
    plots.style()
    print("parameters ok")
    return dev, Path(out_dir)


def conclusion(text: str):
    """A notebook's conclusion, written from the run's numbers, rendered as Markdown (the last expression of a
    cell)."""
    from IPython.display import Markdown
    return Markdown(text)
