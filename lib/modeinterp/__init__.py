"""modeinterp: a thin library reproducing 'Understanding Hallucinations in Diffusion Models through Mode
Interpolation' (Aithal, Maini, Lipton, Kolter; NeurIPS 2024).

Modules, one concept each:
  runtime    setup(seed, threads): seeds and thread count
  notebook   what every notebook does once its parameters are checked
  params     validation of notebook parameters (clear errors before any compute)
  diffusion  noise schedules, forward noising, eps-prediction loss, x0_hat
  noise      one random stream per sample, so that samples do not depend on how rows are chunked
  windows    windows of reverse timesteps: the visited steps, the last steps, translations between schedules,
             the decision window
  samplers   DDPM ancestral (full or strided) and DDIM, with the streaming trajectory variance
  hf         diffusers' DDPMScheduler/DDIMScheduler (and UNet2DModel) in the same loop (optional)
  metric     trajectory variance (streaming and post hoc), its local aggregations, x0_hat's agreement with the sample
  detection  how well a score detects: ROC/AUROC (within groups, standard error), operating points, window choice
  mixtures   Gaussian mixtures with known modes, their exact noised score (the oracle), a labeller
  nets       denoisers (the toy MLP, a small pixel-unshuffle U-Net)
  train      a model-agnostic training loop, the configuration of a model (ModelConfig), the cache of
             trained models
  parallel   several processes through accelerate: data-parallel training, sampling split by sample index
  toy        the toy model's configuration (ToyConfig): a mixture, its training set, the MLP
  images     an image model's configuration (ImageConfig): a U-Net, or an MLP for tiny images
  pixels     pixel handling shared by the image datasets: value ranges, foreground counts, strips
  shapes     the simple-shapes images: seeded generator and shape counter
  hands      procedural hands with a finger counter; the 11k Hands loader
  labels     hand labels of generated samples: written out for labelling, read back
  digits     scikit-learn's 8x8 digits and MNIST from its IDX files
  quality    FID, precision and recall in the features of a small digit classifier
  recursive  recursive training: generations, lineages, filtering strategies
  study      the window study of an image model, and the training-budget study of the shapes
  plots      a plotting style and a byte-stable savefig
  claims     the claims files that the README table is built from
"""
from .runtime import setup

__all__ = ["setup"]
