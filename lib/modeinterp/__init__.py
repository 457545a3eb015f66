"""modeinterp: a thin library reproducing 'Understanding Hallucinations in Diffusion Models through Mode
Interpolation' (Aithal, Maini, Lipton, Kolter; NeurIPS 2024).

Four folders; imports point one way, support <- method <- experiments <- interfaces.

method/       the paper's method (read this first)
  diffusion   noise schedules, forward noising, the eps-prediction loss, x0_hat
  samplers    DDPM ancestral (full or strided) and DDIM: step rules run by one reverse loop that streams the metric
  metric      the trajectory variance of x0_hat (streaming and post hoc), its local aggregations
  detection   how well a score detects: ROC/AUROC (within groups, standard error), operating points, windows
  windows     windows of reverse timesteps: the visited steps, the last steps, the decision window
  noise       one random stream per sample, so that samples do not depend on how rows are chunked
  mixtures    Gaussian mixtures with known modes and their exact noised score (the oracle)
  nets        denoisers (the toy MLP, a small pixel-unshuffle U-Net)
  train       a model-agnostic training loop, a model's configuration (ModelConfig), the cache of trained models
experiments/  the paper's experiments: datasets with known modes, their counters, the studies
  toy         the toy model's configuration (ToyConfig): a mixture, its training set, the MLP
  images      an image model's configuration (ImageConfig): a U-Net, or an MLP for tiny images
  pixels      pixel handling shared by the image datasets: value ranges, foreground counts, strips
  shapes      the simple-shapes images: seeded generator and shape counter
  hands       procedural hands with a finger counter; the 11k Hands loader
  labels      hand labels of generated samples: written out for labelling, read back
  digits      scikit-learn's 8x8 digits and MNIST from its IDX files
  quality     FID, precision and recall in the features of a small digit classifier
  recursive   recursive training: generations, lineages, filtering strategies
  study       the window study of an image model and its comparison of windows (named: paper, last, decision, best)
  budget      the training-budget study of the shapes (make study, notebook 06)
support/      what every part leans on
  params      validation of parameters (clear errors before any compute)
  runtime     setup(seed, threads): seeds and thread count; devices; progress bars
  parallel    several processes through accelerate: data-parallel training, sampling split by sample index
  files       atomic writes
  claims      the claims files that the README table is built from
interfaces/   what faces the reader and other libraries
  plots       a plotting style and a byte-stable savefig, the figures the notebooks share
  notebook    what every notebook does once its parameters are checked
  hf          diffusers' DDPMScheduler/DDIMScheduler (and UNet2DModel) in our sampler (optional)

`from modeinterp import samplers, metric, detection` works for the method's modules.
"""
from .method import detection, diffusion, metric, mixtures, nets, noise, samplers, train, windows
from .support.runtime import setup

__all__ = ["setup", "diffusion", "samplers", "metric", "detection", "windows", "noise", "mixtures", "nets", "train"]
